#include "engine/admission.h"

#include <cstdio>
#include <string>

namespace rerankd {
namespace {

std::string seconds_text(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", s);
  return text;
}

}  // namespace

Admission::Admission(const AdmissionLimits& limits, BatchPolicy& policy, SchedulerMetrics& metrics)
    : limits_(limits), policy_(policy), metrics_(metrics) {}

void Admission::refuse_full(double retry_after_seconds) const {
  metrics_.rejected_concurrency.inc();
  throw Error(Error::Kind::kOverloaded,
              "too many concurrent requests (limit " + std::to_string(limits_.max_concurrent_requests) + ")",
              retry_after_seconds);
}

void Admission::refuse(const BatchPolicy::Admission& a, size_t tokens, Clock::time_point deadline,
                       Clock::time_point now, const std::string& progress, bool at_least, Counter& counted) const {
  const double left = seconds_between(now, deadline);
  const std::string scope = progress.empty() ? "" : ", " + progress + ",";
  switch (a.outcome) {
    case BatchPolicy::Admission::Outcome::kAdmitted:
      return;
    case BatchPolicy::Admission::Outcome::kNeverInTime:
      metrics_.rejected_never.inc();
      throw Error(Error::Kind::kTooLarge, "the request needs" + scope + " about " + seconds_text(a.alone_seconds) +
                                              " of model time (" + (at_least ? "at least " : "") +
                                              std::to_string(tokens) +
                                              " tokens) even on an idle server, and its deadline leaves " +
                                              seconds_text(left) + "; send fewer or shorter documents, or give it "
                                              "a longer deadline");
    case BatchPolicy::Admission::Outcome::kQueueFull:
      counted.inc();
      throw Error(Error::Kind::kOverloaded,
                  "overloaded: with the work admitted ahead of it" + scope + " the request would finish in " +
                      seconds_text(a.finish_seconds) + (a.share < 1 ? " at its fair share of the model" : "") +
                      ", past its deadline (" + seconds_text(left) + ") or the queue bound (" +
                      seconds_text(limits_.queue_seconds) + ")",
                  a.retry_after);
  }
}

void Admission::screen(std::string_view tenant, size_t min_tokens, Clock::time_point deadline, Clock::time_point now,
                       size_t encoded, size_t documents) const {
  if (deadline <= now) throw Error(Error::Kind::kTimeout, "the request's deadline passed before it was admitted");
  // The optional token cap too, before encoding only: once encoding has begun, what is left
  // for admit() to say may be 413 (the request alone is over the cap), which a refusal on the
  // tokens so far would turn into a misleading "retry later".
  if (const size_t cap = limits_.max_queued_tokens; cap > 0 && documents == 0 && min_tokens <= cap &&
                                                    policy_.queued_tokens() + min_tokens > cap) {
    metrics_.rejected_queue_tokens.inc();
    throw Error(Error::Kind::kOverloaded,
                "queue full: " + std::to_string(policy_.queued_tokens()) + " tokens waiting (limit " +
                    std::to_string(cap) + "), and the request has at least " + std::to_string(min_tokens),
                policy_.queued_seconds(now));
  }
  const BatchPolicy::Admission a = policy_.screen(tenant, min_tokens, deadline, now);
  if (a.outcome == BatchPolicy::Admission::Outcome::kAdmitted) return;
  const std::string progress = documents == 0 ? std::string()
                                              : "for its first " + std::to_string(encoded) + " of " +
                                                    std::to_string(documents) + " documents";
  refuse(a, min_tokens, deadline, now, progress, true, metrics_.rejected_early);
}

void Admission::admit(BatchPolicy::RequestId id, std::string_view tenant, std::span<const size_t> lengths,
                      size_t tokens, Clock::time_point deadline, Clock::time_point now) {
  if (const size_t cap = limits_.max_queued_tokens; cap > 0) {
    if (tokens > cap) {
      throw Error(Error::Kind::kTooLarge, "the request has " + std::to_string(tokens) +
                                              " tokens to run; the queue holds at most " + std::to_string(cap));
    }
    if (policy_.queued_tokens() + tokens > cap) {
      metrics_.rejected_queue_tokens.inc();
      throw Error(Error::Kind::kOverloaded,
                  "queue full: " + std::to_string(policy_.queued_tokens()) + " tokens waiting (limit " +
                      std::to_string(cap) + ")",
                  policy_.queued_seconds(now));
    }
  }
  if (deadline <= now) throw Error(Error::Kind::kTimeout, "the request's deadline passed before it was admitted");
  refuse(policy_.admit(id, lengths, deadline, now, tenant), tokens, deadline, now, {}, false,
         metrics_.rejected_deadline);
}

}  // namespace rerankd
