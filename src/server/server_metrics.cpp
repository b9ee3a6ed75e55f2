#include "server/server_metrics.h"

#include "common/process_stats.h"

namespace rerankd::server {

ServerMetrics::ServerMetrics(MetricsRegistry& registry)
    : registry_(registry),
      in_flight_(registry.gauge("rerankd_http_requests_in_flight", "HTTP requests received and not yet answered")),
      open_connections_(registry.gauge("rerankd_http_open_connections", "Client connections currently open")),
      accepted_connections_(registry.counter("rerankd_http_connections_accepted_total",
                                             "Client connections accepted (keep-alive clients reuse theirs)")),
      client_disconnects_(registry.counter("rerankd_client_disconnects_total",
                                           "Requests whose client went away before the answer was ready")),
      pairs_(registry.counter("rerankd_request_pairs_total", "(query, document) pairs received in rerank requests")) {
  registry.gauge_callback("rerankd_process_resident_memory_bytes",
                          "Resident memory of the process (model weights, mapped checkpoint pages, workspaces)",
                          [] { return static_cast<double>(resident_memory_bytes()); });
}

void ServerMetrics::connection_opened() {
  accepted_connections_.inc();
  open_connections_.add(1);
}

void ServerMetrics::connection_closed() { open_connections_.add(-1); }

void ServerMetrics::request_answered(std::string_view route, unsigned status, double seconds) {
  const std::string r(route);
  // The registry finds existing children under its mutex; at HTTP request rates that is noise.
  registry_.counter("rerankd_http_requests_total", "HTTP requests answered, by route and status",
                    {{"route", r}, {"status", std::to_string(status)}})
      .inc();
  registry_
      .histogram("rerankd_http_request_duration_seconds", "Receipt of a request to its answer being handed to the socket",
                 MetricsRegistry::latency_buckets_seconds(), {{"route", r}})
      .observe(seconds);
}

}  // namespace rerankd::server
