#include "client/retry_policy.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "common/error_class.h"

namespace rerankd::client {

bool is_retryable_status(unsigned status) noexcept {
  // 502 is no Kind of ours: a proxy's answer when a replica is gone, which another may serve.
  if (status == 502) return true;
  return std::ranges::any_of(error_classes(),
                             [status](const ErrorClass& c) { return c.http_status == status && c.retryable; });
}

std::chrono::nanoseconds retry_delay(const RetryOptions& options, int retry,
                                     std::optional<std::chrono::milliseconds> retry_after, double uniform01) {
  using std::chrono::nanoseconds;
  const double base = static_cast<double>(nanoseconds(options.base_backoff).count());
  const double cap = static_cast<double>(nanoseconds(options.max_backoff).count());
  const int exponent = std::clamp(retry - 1, 0, 62);
  const double ceiling = std::min(cap, base * std::ldexp(1.0, exponent));
  const auto jitter = nanoseconds(static_cast<int64_t>(ceiling * std::clamp(uniform01, 0.0, 1.0)));
  if (retry_after) return nanoseconds(*retry_after) + jitter;
  return jitter;
}

RetryBudget::RetryBudget(double ratio, double burst)
    : ratio_(std::max(0.0, ratio)), burst_(std::max(0.0, burst)), tokens_(burst_) {}

void RetryBudget::on_request() {
  std::lock_guard lock(mutex_);
  tokens_ = std::min(burst_, tokens_ + ratio_);
}

bool RetryBudget::try_spend() {
  std::lock_guard lock(mutex_);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

double random_unit() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(generator);
}

}  // namespace rerankd::client
