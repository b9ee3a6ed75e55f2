#pragma once
// The HTTP side's Prometheus instruments (the scheduler registers its own batch and queue ones).
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
  void request_started() { in_flight_.add(1); }
  void request_ended() { in_flight_.add(-1); }
  // `route` is a fixed label (Router::label), never the raw target: label values must stay few.
  void request_answered(std::string_view route, unsigned status, double seconds);
  void client_disconnected() { client_disconnects_.inc(); }
  void pairs_received(size_t n) { pairs_.inc(static_cast<double>(n)); }

 private:
  MetricsRegistry& registry_;
  Gauge& in_flight_;
  Gauge& open_connections_;
  Counter& accepted_connections_;
  Counter& client_disconnects_;
  Counter& pairs_;
};

}  // namespace rerankd::server
