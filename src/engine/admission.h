#pragma once
// Admission, the step before any work is spent on a request and again once its cost is known:
// the bound on requests in flight, the deadline test against the work ahead (at the tenant's fair
// share of the model), the optional bound on queued tokens, and every refusal's words. A refusal
// that can be decided early is: before the request is read (screen with no documents), before it
// is encoded (screen with its document count), and after each document it encodes; so a request
// that cannot be admitted costs microseconds, not its tokenization.
//
// Messages speak of the request and its deadline, never of how a caller sets them (HTTP headers,
// flags): the edges add that.
#include <atomic>
#include <cstddef>
#include <string_view>

#include "common/error.h"
#include "engine/batch_policy.h"
#include "engine/clock.h"
#include "engine/scheduler_metrics.h"

namespace rerankd {

struct AdmissionLimits {
  size_t max_concurrent_requests = 512;
  size_t max_queued_tokens = 0;  // 0: none
  double queue_seconds = 20;     // the bound in force on queued work, for messages
};

class Admission {
 public:
  // `policy` is guarded by the caller's mutex: the methods that take it say so.
  Admission(const AdmissionLimits& limits, BatchPolicy& policy, SchedulerMetrics& metrics);

  // A request enters (counted in flight) or is refused at once: kOverloaded past the bound on
  // requests in flight, with the Retry-After `retry_after()` gives (asked only then). Each enter()
  // that returns is matched by one leave().
  template <typename RetryAfter>
  void enter(const RetryAfter& retry_after) {
    if (in_flight_.fetch_add(1) < limits_.max_concurrent_requests) return;
    in_flight_.fetch_sub(1);
    refuse_full(retry_after());
  }
  // The same refusal without entering, for a request not yet read.
  template <typename RetryAfter>
  void screen_room(const RetryAfter& retry_after) const {
    if (in_flight_.load() >= limits_.max_concurrent_requests) refuse_full(retry_after());
  }
  void leave() { in_flight_.fetch_sub(1); }
  size_t in_flight() const { return in_flight_.load(); }

  // With the policy's mutex held. Throws the refusal a request of at least `min_tokens` for
  // `tenant` would get whatever its real size (kOverloaded with a retry-after, kTooLarge when it
  // could not finish even on an idle server, kTimeout when its deadline has passed). `encoded`
  // of `documents` were encoded so far (for the message; 0 of 0 before encoding).
  void screen(std::string_view tenant, size_t min_tokens, Clock::time_point deadline, Clock::time_point now,
              size_t encoded = 0, size_t documents = 0) const;

  // With the policy's mutex held: queues the request's pairs, or throws its refusal.
  void admit(BatchPolicy::RequestId id, std::string_view tenant, std::span<const size_t> lengths, size_t tokens,
             Clock::time_point deadline, Clock::time_point now);

 private:
  [[noreturn]] void refuse_full(double retry_after_seconds) const;
  // `at_least`: `tokens` is the least the request can cost, not its count.
  void refuse(const BatchPolicy::Admission& a, size_t tokens, Clock::time_point deadline, Clock::time_point now,
              const std::string& progress, bool at_least, Counter& counted) const;

  AdmissionLimits limits_;
  BatchPolicy& policy_;
  SchedulerMetrics& metrics_;
  std::atomic<size_t> in_flight_{0};
};

}  // namespace rerankd
