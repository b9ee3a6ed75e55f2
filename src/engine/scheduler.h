#pragma once
// The scheduler: admission, tokenization and completion of rerank requests, around one
// BatchPolicy (what runs next, and whether a request can make its deadline) and one BackendWorker
// (the thread that runs the passes). Threads and what each owns (see docs/architecture.md):
//   - callers (the server's network threads) call submit()/cancel() and never block on the model;
//   - tokenizer threads turn a request's texts into token ids (documents cut or split into
//     windows), answer it from the score cache when every pair is there, and otherwise admit it,
//     or refuse it at once when the work the policy would put ahead of it leaves no time before its
//     deadline;
//   - the backend worker thread owns the model: it takes the policy's next pass (the policy drops
//     work that expired or can no longer make its deadline before it reaches the model), runs it,
//     and completes the requests whose last pair it scored.
// A request's completion callback runs exactly once, on a tokenizer or the worker thread (or the
// caller's, for cancel): it must hand off quickly (post to an executor), never block.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "common/error.h"
#include "common/metrics.h"
#include "engine/backend_worker.h"
#include "engine/batch_policy.h"
#include "engine/clock.h"
#include "engine/document_chunks.h"
#include "engine/reranker.h"
#include "engine/score_cache.h"

namespace rerankd {

struct SchedulerOptions {
  size_t max_batch_tokens = BatchLimits{}.max_tokens;  // upper bound; the budget in force is measured
  size_t max_batch_pairs = BatchLimits{}.max_pairs;    // upper bound per forward pass
  // The deadline a request gets unless it says otherwise (--request-timeout). The latency cap on
  // one pass is a tenth of it, so a new request waits behind a running pass at most that long.
  double default_timeout_seconds = 30;
  double max_queue_seconds = 0;    // work a request may find ahead of it, and the aging bound; 0: see queue_seconds()
  size_t max_queued_tokens = 0;    // optional hard cap on tokens waiting; 0: none (the queue is bounded in seconds)
  size_t max_concurrent_requests = 512;
  int tokenizer_threads = 2;  // two, so a small request is not tokenized after a huge one
  bool warm_up = true;        // two passes of a short pair before any request: a first measurement for admission

  // How pairs are made when a request does not say (--truncation, --max-chunks-per-doc,
  // --max-tokens-per-doc, --chunk-overlap-tokens).
  TruncationRule truncation = TruncationRule::kLongestFirst;
  ChunkRequest chunk_defaults;
  size_t max_pairs_per_request = 0;  // pairs one request may make, its documents' chunks counted; 0: no limit
  // The score cache's bound (--score-cache-mb); 0: no cache. With a cache, a pair repeated within a
  // request or a pass is also scored once.
  size_t score_cache_bytes = 0;
  // Put on every series the scheduler registers: a server with several models says model="NAME".
  Labels metric_labels;

  // The queue bound in force: by default two thirds of the default deadline, so that under
  // sustained overload an admitted request keeps a third of its time as margin for a change of
  // speed, while 64 callers of 10-document requests on 2 cores (~12 s of work) are all admitted.
  double queue_seconds() const {
    return max_queue_seconds > 0 ? max_queue_seconds : default_timeout_seconds * 2 / 3;
  }
};

struct RerankInput {
  std::string query;
  std::vector<std::string> documents;
  bool truncate = true;                   // false: a pair longer than the model allows is refused (422)
  TruncationSide truncation_side = TruncationSide::kRight;
  std::optional<TruncationRule> truncation;  // nullopt: the server's
  ChunkRequest chunks;                       // fields not given: the server's
  bool return_chunks = false;                // the winning window's bytes are wanted (needs token spans)
  Clock::time_point deadline = Clock::time_point::max();
};

// What one document's pairs cost: their tokens as run (special tokens included, after truncation;
// all its chunks with chunks) and whether any of the document or the query is in no pair.
struct PairUsage {
  size_t tokens = 0;
  bool truncated = false;
};

// Which of a document's pairs gave its score: with chunks, the best window.
struct ChunkChoice {
  uint32_t index = 0, count = 1;
  uint32_t char_start = 0, char_end = 0;  // the bytes of the document that window holds
};

struct RerankOutput {
  std::vector<float> logits;        // one per document, in input order: the best of its pairs
  std::vector<PairUsage> usage;     // one per document, in input order
  std::vector<ChunkChoice> chunks;  // per document
  size_t total_tokens = 0;          // tokens of all pairs (chunks included), special tokens included
  size_t cached_pairs = 0;          // pairs answered by the score cache
  double queue_seconds = 0;         // admission to the first pass that ran one of its pairs
  double inference_seconds = 0;  // summed forward time of the passes that carried its pairs
};

// Either the scores or the error (kTimeout, kUnprocessable, kOverloaded with a retry-after,
// kTooLarge when it could not make its deadline even on an idle server, kUnavailable, kInternal).
using RerankResult = std::variant<RerankOutput, Error>;
// Runs once, on a scheduler thread (or the caller's, for a cancel). It must not throw: the
// scheduler could tell nobody (the callback is how the request is answered); one that does ends
// the process (it runs in a noexcept frame).
using RerankCallback = std::function<void(RerankResult)>;

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

  class Request;
  using Ticket = std::shared_ptr<Request>;

  // Accepts a request or throws at once: Error(kOverloaded) past max_concurrent_requests,
  // Error(kUnavailable) while draining. The deadline check needs the token count, so it runs
  // right after tokenization and reports through the callback.
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

  // Seconds until the admitted work has run, at the measured speed (at least 1).
  int retry_after_seconds() const;
  BatchingState batching() const;
  size_t queued_tokens() const { return queued_tokens_.load(); }
  size_t in_flight_requests() const { return in_flight_.load(); }
  bool compute_alive() const { return worker_ && worker_->alive(); }
  std::optional<ScoreCache::Stats> cache_stats() const;
  const SchedulerOptions& options() const { return options_; }

 private:
  class Passes;  // the backend worker's PassSource

  void tokenizer_loop();
  void tokenize(const Ticket& request);
  std::optional<PlannedPass> next_pass(PassSource::Wait wait);
  void pass_done(PlannedPass& pass, PassOutcome outcome);
  void finish(const Ticket& request, RerankResult result);
  static RerankOutput output_of(Request& request);

  const PairTokenizer& tokenizer_;
  const size_t max_length_;
  const TimeSource& clock_;
  SchedulerOptions options_;

  // Tokenizer input: accepted requests waiting for their ids.
  std::mutex tokenize_mutex_;
  std::condition_variable tokenize_cv_;
  std::deque<Ticket> to_tokenize_;

  // Admitted work. Guarded by mutex_.
  mutable std::mutex mutex_;
  std::condition_variable work_cv_;
  std::condition_variable idle_cv_;
  BatchPolicy policy_;
  std::unordered_map<uint64_t, Ticket> admitted_;  // tokenized and admitted, not yet complete
  PackedBatch warm_up_;
  int warm_up_passes_ = 0;   // warm-up passes not yet planned
  int warm_up_pending_ = 0;  // warm-up passes not yet done (wait_idle waits for them)
  uint64_t passes_run_ = 0;
  bool stopping_ = false;

  std::atomic<uint64_t> next_id_{1};
  std::atomic<bool> draining_{false};
  std::atomic<size_t> queued_tokens_{0};
  std::atomic<size_t> in_flight_{0};

  struct Instruments;
  std::unique_ptr<Instruments> metrics_;
  std::unique_ptr<ScoreCache> cache_;  // null: off; guarded by its own mutex

  std::vector<std::thread> tokenizer_threads_;
  std::unique_ptr<Passes> passes_;
  std::unique_ptr<PassRunner> runner_;
  std::unique_ptr<BackendWorker> worker_;  // started last, stopped first
};

}  // namespace rerankd
