#pragma once
// The scheduler: the front of the engine for many concurrent rerank requests on one model. It
// wires the steps of a request's path, each in its own file:
//   admit first   admission.h        refuse what cannot make its deadline, before work is spent on it
//   encode        request_encoder.h  texts -> pairs, on a tokenizer thread (tokenizer_pool.h),
//                                    asking admission after each document
//   admit         admission.h        queue the pairs in the BatchPolicy, or refuse
//   plan          pass_planner.h     the policy's next pass -> a packed batch
//   run           backend_worker.h   the one thread that runs passes on the model
//   complete      request_state.h    scores back to their requests; each answered exactly once
// Threads and what each owns: docs/architecture.md. Callers (the server's network threads) call
// screen()/submit()/cancel() and never block on the model. A request's callback runs exactly once,
// on a tokenizer or the worker thread (or the caller's, for cancel and for a refusal at submit):
// it must hand off quickly (post to an executor), never block.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/error.h"
#include "common/metrics.h"
#include "common/thread_role.h"
#include "engine/admission.h"
#include "engine/backend_worker.h"
#include "engine/batch_policy.h"
#include "engine/clock.h"
#include "engine/document_chunks.h"
#include "engine/request_encoder.h"
#include "engine/request_state.h"
#include "engine/rerank_types.h"
#include "engine/reranker.h"
#include "engine/scheduler_metrics.h"
#include "engine/score_cache.h"
#include "engine/tokenizer_pool.h"

namespace rerankd {

struct SchedulerOptions {
  // Upper bounds on a pass's tokens and pairs; the budget in force is measured.
  BatchBounds batch;
  // The deadline a request gets unless it says otherwise. The latency cap on one pass is a tenth
  // of it, so a new request waits behind a running pass at most that long.
  double default_timeout_seconds = 30;
  double max_queue_seconds = 0;    // work a request may find ahead of it, and the aging bound; 0: see queue_seconds()
  size_t max_queued_tokens = 0;    // optional hard cap on tokens waiting; 0: none (the queue is bounded in seconds)
  size_t max_concurrent_requests = 512;
  int tokenizer_threads = 2;  // two, so a small request is not tokenized after a huge one
  // Nice steps the tokenizer threads run below the model (common/thread_role.h).
  int feeder_nice = kDefaultFeederNice;
  bool warm_up = true;        // two passes of a short pair before any request: a first measurement for admission

  // How pairs are made when a request does not say.
  TruncationRule truncation = TruncationRule::kLongestFirst;
  ChunkRequest chunk_defaults;
  size_t max_pairs_per_request = 0;  // pairs one request may make, its documents' chunks counted; 0: no limit
  // The score cache's bound; 0: no cache. With a cache, a pair repeated within a request or a pass
  // is also scored once.
  size_t score_cache_bytes = 0;
  // Fair-share weights of tenants (RerankInput::tenant); one not listed weighs 1.
  std::map<std::string, double, std::less<>> tenant_weights;
  // Put on every series the scheduler registers: a server with several models says model="NAME".
  Labels metric_labels;

  // The queue bound in force: by default two thirds of the default deadline, so that under
  // sustained overload an admitted request keeps a third of its time as margin for a change of
  // speed, while 64 callers of 10-document requests on 2 cores (~12 s of work) are all admitted.
  double queue_seconds() const {
    return max_queue_seconds > 0 ? max_queue_seconds : default_timeout_seconds * 2 / 3;
  }
};

// The batch size in force and what it was learnt from (/info, /metrics).
struct BatchingState {
  size_t token_budget = 0;
  bool exploring = true;
  double tokens_per_second = 0;  // measured at the budget; 0: nothing measured yet
  double queued_seconds = 0;     // predicted model time of the admitted work
};

class Scheduler {
 public:
  // The scheduler drives `reranker`'s model from its worker thread; nothing else may use that
  // model while the scheduler runs. Metrics are registered in `metrics` (may be null).
  Scheduler(Reranker& reranker, const SchedulerOptions& options, MetricsRegistry* metrics);
  // Any forward function and clock: tests run a fake backend against a virtual clock.
  Scheduler(const PairTokenizer& tokenizer, size_t max_length, ForwardFn forward, const TimeSource& clock,
            const SchedulerOptions& options, MetricsRegistry* metrics);
  // Any runner, one that overlaps passes included.
  Scheduler(const PairTokenizer& tokenizer, size_t max_length, std::unique_ptr<PassRunner> runner,
            const TimeSource& clock, const SchedulerOptions& options, MetricsRegistry* metrics);
  ~Scheduler();  // stops the threads; requests still pending complete with kUnavailable
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  using Ticket = std::shared_ptr<RequestState>;

  // Before a request is read or parsed: throws the refusal that `tenant`'s request with a body of
  // `body_bytes` would get (at the least its tokens can be, token_estimate.h), or returns. Cheap:
  // the server asks it for every request, so a flood of requests that cannot be admitted costs
  // microseconds each rather than their parsing and tokenization.
  void screen(std::string_view tenant, size_t body_bytes, Clock::time_point deadline);
  // Accepts a request or throws at once: Error(kUnavailable) while draining, kInvalidInput without
  // documents, kOverloaded past max_concurrent_requests or when the least its texts can cost
  // cannot be admitted. Encoding and
  // the admission that needs its token count follow on a tokenizer thread and report through the
  // callback.
  Ticket submit(RerankInput input, RerankCallback done);
  // The client went away or its deadline passed: its pairs are dropped before they reach the
  // model and the callback runs with `reason` (kTimeout, or kUnavailable for a disconnect).
  void cancel(const Ticket& ticket, Error reason);

  // Stop admitting; requests already admitted run to completion.
  void begin_drain();
  bool draining() const { return draining_.load(); }
  // Waits until no request is in flight and the warm-up has been measured, or the deadline
  // passes; true if idle.
  bool wait_idle(Clock::time_point deadline);

  // Seconds until the admitted work has run, at the measured speed, rounded up; 1 at the least
  // (a refusal's Retry-After when nothing better is known).
  int retry_after_seconds() const;
  BatchingState batching() const;
  size_t queued_tokens() const { return queued_tokens_.load(); }
  size_t in_flight_requests() const { return admission_.in_flight(); }
  std::optional<ScoreCache::Stats> cache_stats() const;
  const SchedulerOptions& options() const { return options_; }

 private:
  class Passes;  // the backend worker's PassSource

  void encode_and_admit(const Ticket& request);
  std::optional<PlannedPass> next_pass(PassSource::Wait wait);
  void pass_done(PlannedPass& pass, PassOutcome outcome);
  void fail_pass(const PlannedPass& pass, const Error& error);
  void cache_scores(const PlannedPass& pass, const PassOutcome& outcome);
  void observe(const PlannedPass& pass, const PassOutcome& outcome);
  // Completes a request the caller has claimed (RequestState::claim).
  void complete(const Ticket& request, RerankResult result);
  void finish(const Ticket& request, RerankResult result) {
    if (request->claim()) complete(request, std::move(result));
  }

  const TimeSource& clock_;
  SchedulerOptions options_;
  SchedulerMetrics metrics_;
  std::unique_ptr<ScoreCache> cache_;  // null: off; guarded by its own mutex
  RequestEncoder encoder_;

  // Admitted work. Guarded by mutex_.
  mutable std::mutex mutex_;
  std::condition_variable work_cv_;
  std::condition_variable idle_cv_;
  BatchPolicy policy_;
  Admission admission_;  // its policy calls need mutex_
  std::unordered_map<uint64_t, Ticket> admitted_;  // encoded and admitted, not yet complete
  PackedBatch warm_up_;
  int warm_up_passes_ = 0;   // warm-up passes not yet planned
  int warm_up_pending_ = 0;  // warm-up passes not yet done (wait_idle waits for them)
  uint64_t passes_run_ = 0;
  bool stopping_ = false;

  std::atomic<uint64_t> next_id_{1};
  std::atomic<bool> draining_{false};
  std::atomic<size_t> queued_tokens_{0};

  std::unique_ptr<TokenizerPool> tokenizers_;
  std::unique_ptr<Passes> passes_;
  std::unique_ptr<PassRunner> runner_;
  std::unique_ptr<BackendWorker> worker_;  // started last, stopped first
};

}  // namespace rerankd
