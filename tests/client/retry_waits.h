#pragma once
// The client's retry waits as a test sees them (RetryOptions::test_wait): each computed delay is
// recorded, then either skipped (virtual time: backoff and Retry-After are checked exactly, at no
// cost in wall-clock time) or waited out for real. Must outlive the client it is given to.
#include <chrono>
#include <functional>
#include <mutex>
#include <vector>

namespace rerankd::testing {

class RetryWaits {
 public:
  enum class Mode { kSkip, kWait };
  explicit RetryWaits(Mode mode = Mode::kSkip) : mode_(mode) {}

  std::function<std::chrono::nanoseconds(std::chrono::nanoseconds)> hook() {
    return [this](std::chrono::nanoseconds delay) {
      std::lock_guard lock(mutex_);
      delays_.push_back(delay);
      return mode_ == Mode::kWait ? delay : std::chrono::nanoseconds(0);
    };
  }

  std::vector<std::chrono::nanoseconds> delays() const {
    std::lock_guard lock(mutex_);
    return delays_;
  }

 private:
  const Mode mode_;
  mutable std::mutex mutex_;
  std::vector<std::chrono::nanoseconds> delays_;
};

}  // namespace rerankd::testing
