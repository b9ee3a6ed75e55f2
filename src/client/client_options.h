#pragma once
// Everything a RerankClient can be told, with the defaults it uses.
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "client/endpoint_selector.h"
#include "client/retry_policy.h"

namespace rerankd::client {

struct ClientOptions {
  // One or more servers, "http://host:port[/prefix]"; requests go to the least busy healthy one.
  std::vector<std::string> urls{};

  // Keep-alive pool, per endpoint.
  size_t max_connections_per_endpoint = 16;
  std::chrono::milliseconds max_idle{30000};  // keep below the server's idle timeout (75 s)

  std::chrono::milliseconds connect_timeout{2000};   // one TCP connect
  std::chrono::milliseconds request_timeout{30000};  // a whole call, retries included (CallOptions overrides)
  bool send_timeout_header = true;                   // X-Request-Timeout: the seconds left, on every attempt
  std::string api_key{};                             // sent as "Authorization: Bearer KEY" when not empty

  RetryOptions retry{};
  HealthOptions health{};

  int io_threads = 1;  // threads the client runs for itself (not used with a caller's executor)
  size_t max_response_bytes = size_t{64} << 20;
};

}  // namespace rerankd::client
