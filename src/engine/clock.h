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

// Saturating at the clock's ends: an unbounded wait (offline scoring's infinite queue bound, "no
// deadline") is the end of time, where converting it to ticks would overflow (UBSan found it).
inline Clock::time_point after_seconds(Clock::time_point from, double seconds) {
  const double end = std::chrono::duration<double>(Clock::time_point::max() - from).count();
  const double start = std::chrono::duration<double>(Clock::time_point::min().time_since_epoch()).count() -
                       std::chrono::duration<double>(from.time_since_epoch()).count();
  if (!(seconds < end - 1)) return Clock::time_point::max();  // NaN too; 1 s for the rounding of `end`
  if (seconds <= start + 1) return Clock::time_point::min();
  return from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

}  // namespace rerankd
