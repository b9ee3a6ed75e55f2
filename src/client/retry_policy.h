#pragma once
// When and how long to wait before sending a request again.
//
// Only failures where a resend is safe and useful are retried: the connection could not be made or
// broke before the request was sent, or the server answered 429, 502, 503 or 504. Each retry waits
// an exponential backoff with full jitter (uniform in [0, min(max, base * 2^(retry-1))]); an answer
// with Retry-After waits at least that long (plus the jitter, so callers told the same number do
// not come back in lockstep). A retry budget caps retries at a fraction of requests, so a client
// never multiplies the load on a server that is already refusing work.
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>

namespace rerankd::client {

struct RetryOptions {
  int max_attempts = 3;  // first try included; 1 disables retries
  std::chrono::milliseconds base_backoff{50};
  std::chrono::milliseconds max_backoff{2000};
  // Retry-After longer than this is not waited for: the error surfaces instead.
  std::chrono::milliseconds max_retry_after{30000};
  double budget_ratio = 0.2;  // retries allowed per request sent, in the long run
  double budget_burst = 10;   // retries allowed on top (and the bucket's size)
  // Test seam, empty in production (the computed delay is waited): given each retry's computed
  // delay, returns the delay to wait instead. Tests record the delays and return zero, so backoff
  // and Retry-After are checked exactly without waiting, or return the delay to wait it out.
  std::function<std::chrono::nanoseconds(std::chrono::nanoseconds)> test_wait{};
};

// The statuses whose Kind is retryable in common/error_class.h (429 overloaded, 503 unavailable,
// e.g. draining, 504 timeout), and a proxy's 502 (bad gateway).
bool is_retryable_status(unsigned status) noexcept;

// The wait before retry number `retry` (1 = the first resend). `uniform01` is a random draw in
// [0, 1), passed in so tests can pin it.
std::chrono::nanoseconds retry_delay(const RetryOptions& options, int retry,
                                     std::optional<std::chrono::milliseconds> retry_after, double uniform01);

// A token bucket: each request deposits `ratio` tokens, each retry spends one, and the bucket holds
// at most `burst`. Over any run, retries <= ratio * requests + burst. Thread-safe.
class RetryBudget {
 public:
  RetryBudget(double ratio, double burst);
  void on_request();
  // Spends a token if one is there; false means "do not retry".
  bool try_spend();

 private:
  mutable std::mutex mutex_;
  double ratio_, burst_, tokens_;
};

// A uniform draw in [0, 1) from a per-thread generator.
double random_unit();

}  // namespace rerankd::client
