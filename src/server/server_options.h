#pragma once
// Everything `rerankd serve` can be told, in one place so /info can report all of it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/scheduler.h"

namespace rerankd::server {

enum class LogFormat { kText, kJson };

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: the kernel picks one; the bound port is printed
  size_t max_client_batch_size = 1000;  // documents per request
  size_t max_body_bytes = size_t{8} << 20;
  double request_timeout_seconds = 30;  // default deadline; X-Request-Timeout overrides it per request
  double drain_timeout_seconds = 30;
  // Reading a started request or writing a response: past it the connection is closed, so that a
  // client that stops reading its answer (or sending its request) cannot hold it for ever.
  double io_timeout_seconds = 60;
  int io_threads = 2;
  // Bearer keys; empty: no authentication. Never reported in /info or logs.
  std::vector<std::string> api_keys;
  LogFormat log_format = LogFormat::kText;  // of the access lines
  SchedulerOptions scheduler;
};

}  // namespace rerankd::server
