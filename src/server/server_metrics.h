#pragma once
// The HTTP side's Prometheus instruments (the scheduler registers its own batch and queue ones).
#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/metrics.h"

namespace rerankd::server {

class ServerMetrics {
 public:
  explicit ServerMetrics(MetricsRegistry& registry);

  void connection_opened();
  void connection_closed();
  // Read off the socket / fully answered or abandoned (the transport's view).
  // Makes a route's instruments; call for every route label (and "other") before serving.
  void add_route(const std::string& route);
  // `route` is a fixed label (Router::label), never the raw target: label values must stay few.
  // Touches only atomics once the route's counter for `status` exists: no registry lookup, no lock.
  void request_answered(std::string_view route, unsigned status, double seconds);
  void client_disconnected() { client_disconnects_.inc(); }
  void pairs_received(size_t n) { pairs_.inc(static_cast<double>(n)); }

 private:
  static constexpr unsigned kStatuses = 600;
  struct RouteInstruments {
    Histogram* duration = nullptr;
    std::array<std::atomic<Counter*>, kStatuses> by_status{};  // made on the first answer with it
  };
  Counter& requests_counter(const std::string& route, unsigned status);
  Histogram& duration_histogram(const std::string& route);

  MetricsRegistry& registry_;
  // Filled by add_route before the server starts, read-only afterwards.
  std::map<std::string, std::unique_ptr<RouteInstruments>, std::less<>> routes_;
  Gauge& open_connections_;
  Counter& accepted_connections_;
  Counter& client_disconnects_;
  Counter& pairs_;
};

}  // namespace rerankd::server
