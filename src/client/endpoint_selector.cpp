#include "client/endpoint_selector.h"

#include <limits>
#include <utility>

namespace rerankd::client {

EndpointSelector::EndpointSelector(size_t endpoints, HealthOptions options, std::function<Clock::time_point()> now)
    : options_(options), now_(std::move(now)), endpoints_(endpoints) {}

size_t EndpointSelector::acquire(std::optional<size_t> avoid) {
  std::lock_guard lock(mutex_);
  const Clock::time_point now = now_();
  const size_t n = endpoints_.size();
  const size_t start = rotation_++ % n;
  // Pass 1: usable endpoints other than `avoid`; pass 2: `avoid` too; then the earliest cool-down end.
  for (int pass = 0; pass < 2; ++pass) {
    size_t best = n;
    for (size_t k = 0; k < n; ++k) {
      const size_t i = (start + k) % n;
      if (pass == 0 && avoid && *avoid == i) continue;
      if (endpoints_[i].cooldown_until > now) continue;
      if (best == n || endpoints_[i].in_flight < endpoints_[best].in_flight) best = i;
    }
    if (best != n) {
      ++endpoints_[best].in_flight;
      return best;
    }
  }
  size_t best = 0;
  for (size_t i = 1; i < n; ++i) {
    if (endpoints_[i].cooldown_until < endpoints_[best].cooldown_until) best = i;
  }
  ++endpoints_[best].in_flight;
  return best;
}

void EndpointSelector::release(size_t endpoint) {
  std::lock_guard lock(mutex_);
  --endpoints_[endpoint].in_flight;
}

void EndpointSelector::record_success(size_t endpoint) {
  std::lock_guard lock(mutex_);
  endpoints_[endpoint].consecutive_failures = 0;
  endpoints_[endpoint].cooldown_until = {};
}

void EndpointSelector::record_connection_failure(size_t endpoint) {
  std::lock_guard lock(mutex_);
  Endpoint& e = endpoints_[endpoint];
  if (e.consecutive_failures < std::numeric_limits<int>::max()) ++e.consecutive_failures;
  if (e.consecutive_failures >= options_.failure_threshold) e.cooldown_until = now_() + options_.cooldown;
}

EndpointSelector::State EndpointSelector::state(size_t endpoint) const {
  std::lock_guard lock(mutex_);
  const Endpoint& e = endpoints_[endpoint];
  return {e.in_flight, e.consecutive_failures, e.cooldown_until > now_()};
}

}  // namespace rerankd::client
