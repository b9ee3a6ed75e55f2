#pragma once
// Which of several servers gets the next request: the one with the fewest requests in flight
// (ties rotate, so an idle set of servers is used evenly), skipping any that is cooling down.
// An endpoint cools down after `failure_threshold` consecutive connection failures (refused,
// reset, connect timeout) and is skipped for `cooldown`; after that it gets requests again, and
// one more failure sends it straight back. An answer of any status counts as a success: a server
// that says 429 is alive. When every endpoint is cooling down, the one whose cool-down ends first
// is used rather than failing without trying. Thread-safe.
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

namespace rerankd::client {

struct HealthOptions {
  int failure_threshold = 3;
  std::chrono::milliseconds cooldown{5000};
};

class EndpointSelector {
 public:
  using Clock = std::chrono::steady_clock;

  // `now` tells the time that cool-downs are measured in: the steady clock, or a test's own
  // virtual clock (the one injection point, so cool-downs are tested without waiting them out).
  EndpointSelector(size_t endpoints, HealthOptions options, std::function<Clock::time_point()> now = Clock::now);

  // Picks an endpoint and counts a request in flight on it; `avoid` (the one that just failed) is
  // passed over when any other endpoint is usable. Pair with release().
  size_t acquire(std::optional<size_t> avoid = std::nullopt);
  void release(size_t endpoint);

  void record_success(size_t endpoint);
  void record_connection_failure(size_t endpoint);

  struct State {
    size_t in_flight = 0;
    int consecutive_failures = 0;
    bool cooling_down = false;
  };
  State state(size_t endpoint) const;

 private:
  struct Endpoint {
    size_t in_flight = 0;
    int consecutive_failures = 0;
    Clock::time_point cooldown_until{};
  };

  HealthOptions options_;
  std::function<Clock::time_point()> now_;
  mutable std::mutex mutex_;
  std::vector<Endpoint> endpoints_;
  size_t rotation_ = 0;
};

}  // namespace rerankd::client
