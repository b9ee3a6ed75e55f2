#pragma once
// Everything `rerankd serve` can be told, in one place so /info can report all of it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/address_block.h"
#include "engine/scheduler.h"
#include "server/tenant_settings.h"

namespace rerankd::server {

enum class LogFormat { kText, kJson };

// Token buckets per client identity (client_identity.h), server-wide; a tenant's own settings
// replace a rate. 0: no limit.
struct RateLimitOptions {
  double requests_per_second = 0;
  double pairs_per_second = 0;  // documents of rerank requests
  // A bucket holds this many seconds of its rate, and never less than one request (one pair):
  // how far a quiet client may burst above the rate.
  double burst_seconds = 1;
};

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
  // Peers whose X-Forwarded-For names the client (identities without keys).
  std::vector<AddressBlock> trusted_proxies;
  RateLimitOptions rate_limits;
  std::vector<TenantSettings> tenants;  // each id once
  LogFormat log_format = LogFormat::kText;  // of the access lines
  SchedulerOptions scheduler;
};

}  // namespace rerankd::server
