#pragma once
// Where the scheduler reads the time. Injected so that the batching policy and the scheduler can be
// driven by a virtual clock in tests; the server uses the steady clock.
#include <chrono>

namespace rerankd {

using Clock = std::chrono::steady_clock;

class TimeSource {
 public:
  virtual ~TimeSource() = default;
  virtual Clock::time_point now() const = 0;
};

class SteadyTimeSource final : public TimeSource {
 public:
  Clock::time_point now() const override { return Clock::now(); }
};

inline double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

inline Clock::time_point after_seconds(Clock::time_point from, double seconds) {
  return from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

}  // namespace rerankd
