#pragma once
// Time that moves only when a test (or its fake backend) says so: scheduling logic is tested
// against it rather than against sleeps.
#include <atomic>
#include <chrono>
#include <cstdint>

#include "engine/clock.h"

namespace rerankd::testing {

class VirtualClock final : public TimeSource {
 public:
  Clock::time_point now() const override { return Clock::time_point{} + std::chrono::nanoseconds(ns_.load()); }
  void advance(double seconds) { ns_ += static_cast<int64_t>(seconds * 1e9); }

 private:
  // An hour in: a time point "before now" is always representable.
  std::atomic<int64_t> ns_{int64_t{3600} * 1000000000};
};

}  // namespace rerankd::testing
