#include "server/server_metrics.h"

#include "common/process_stats.h"

namespace rerankd::server {

ServerMetrics::ServerMetrics(MetricsRegistry& registry)
    : registry_(registry),
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

void ServerMetrics::add_route(const std::string& route) {
  auto instruments = std::make_unique<RouteInstruments>();
  instruments->duration = &duration_histogram(route);
  routes_.emplace(route, std::move(instruments));
}

Histogram& ServerMetrics::duration_histogram(const std::string& route) {
  return registry_.histogram("rerankd_http_request_duration_seconds",
                             "Receipt of a request to its answer being handed to the socket",
                             MetricsRegistry::latency_buckets_seconds(), {{"route", route}});
}

Counter& ServerMetrics::requests_counter(const std::string& route, unsigned status) {
  return registry_.counter("rerankd_http_requests_total", "HTTP requests answered, by route and status",
                           {{"route", route}, {"status", std::to_string(status)}});
}

void ServerMetrics::request_answered(std::string_view route, unsigned status, double seconds) {
  const auto it = routes_.find(route);
  if (it == routes_.end() || status >= kStatuses) {  // not a registered route: the registry's general path
    requests_counter(std::string(route), status).inc();
    duration_histogram(std::string(route)).observe(seconds);
    return;
  }
  RouteInstruments& r = *it->second;
  r.duration->observe(seconds);
  // The first answer with a status registers its counter (under the registry's mutex); later ones
  // only load the pointer. Two threads racing on the first get the same child from the registry.
  Counter* counter = r.by_status[status].load(std::memory_order_acquire);
  if (counter == nullptr) {
    counter = &requests_counter(it->first, status);
    r.by_status[status].store(counter, std::memory_order_release);
  }
  counter->inc();
}

}  // namespace rerankd::server
