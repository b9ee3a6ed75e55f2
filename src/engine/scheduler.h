#pragma once
// The scheduler: every request's pairs go into one queue, and a single compute thread runs them in
// batches formed across requests. Threads and what each owns (see docs/architecture.md):
//   - callers (the server's network threads) call submit()/cancel() and never block on the model;
//   - tokenizer threads turn a request's texts into token ids and admit it to the queue;
//   - the compute thread owns the model, forms each batch from whatever is waiting (round-robin
//     over requests, so a big request cannot starve a small one; each request's pairs longest
//     first, so a batch's lengths are alike), drops cancelled or expired work before it reaches
//     the model, runs the forward pass, and completes requests.
// A request's completion callback runs exactly once, on a tokenizer or the compute thread: it
// must hand off quickly (post to an executor), never block.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "common/error.h"
#include "common/metrics.h"
#include "engine/reranker.h"

namespace rerankd {

using Clock = std::chrono::steady_clock;

struct SchedulerOptions {
  size_t max_batch_tokens = BatchLimits{}.max_tokens;  // tokens per forward pass
  size_t max_batch_pairs = BatchLimits{}.max_pairs;    // pairs per forward pass
  size_t max_queued_tokens = 262144;  // admitted but not yet run; beyond it: 429
  size_t max_concurrent_requests = 512;
  int tokenizer_threads = 2;  // two, so a small request is not tokenized after a huge one
};

struct RerankInput {
  std::string query;
  std::vector<std::string> documents;
  bool truncate = true;                   // false: a pair longer than the model allows is refused (422)
  TruncationSide truncation_side = TruncationSide::kRight;
  Clock::time_point deadline = Clock::time_point::max();
};

struct RerankOutput {
  std::vector<float> logits;  // one per document, in input order
  size_t total_tokens = 0;    // tokens of all pairs, special tokens included
  double queue_seconds = 0;   // admission to the first batch that ran one of its pairs
  double inference_seconds = 0;  // summed forward time of the batches that carried its pairs
};

// Either the scores or the error (kTimeout, kUnprocessable, kOverloaded, kUnavailable, kInternal).
using RerankResult = std::variant<RerankOutput, Error>;
using RerankCallback = std::function<void(RerankResult)>;

class Scheduler {
 public:
  // The scheduler drives `reranker`'s model from its compute thread; nothing else may use that
  // model while the scheduler runs. Metrics are registered in `metrics` (may be null).
  Scheduler(Reranker& reranker, const SchedulerOptions& options, MetricsRegistry* metrics);
  ~Scheduler();  // stops the threads; requests still pending complete with kUnavailable
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  class Request;
  using Ticket = std::shared_ptr<Request>;

  // Admits a request or throws at once: Error(kOverloaded) past max_concurrent_requests,
  // Error(kUnavailable) while draining. The token-budget check happens after tokenization and
  // reports kOverloaded through the callback.
  Ticket submit(RerankInput input, RerankCallback done);
  // The client went away or its deadline passed: its pairs are dropped before they reach the
  // model and the callback runs with `reason` (kTimeout, or kUnavailable for a disconnect).
  void cancel(const Ticket& ticket, Error reason);

  // Stop admitting; requests already admitted run to completion.
  void begin_drain();
  bool draining() const { return draining_.load(); }
  // Waits until no request is in flight or the deadline passes; true if idle.
  bool wait_idle(Clock::time_point deadline);

  // Seconds a client should wait before retrying, from the queue size and the measured drain rate.
  int retry_after_seconds() const;
  size_t queued_tokens() const { return queued_tokens_.load(); }
  size_t in_flight_requests() const { return in_flight_.load(); }
  bool compute_alive() const { return compute_alive_.load(); }
  const SchedulerOptions& options() const { return options_; }

 private:
  struct PendingPair {
    Ticket request;
    size_t index;  // into the request's documents
    EncodedPair pair;
  };

  void tokenizer_loop();
  void compute_loop();
  void tokenize(const Ticket& request);
  std::vector<PendingPair> take_batch();  // under mutex_
  void run_batch(std::vector<PendingPair>& batch);
  void finish(const Ticket& request, RerankResult result);

  Reranker& reranker_;
  SchedulerOptions options_;

  // Tokenizer input: admitted requests waiting for their ids.
  std::mutex tokenize_mutex_;
  std::condition_variable tokenize_cv_;
  std::deque<Ticket> to_tokenize_;

  // Compute input: per request, its pairs not yet run. Guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable work_cv_;
  std::condition_variable idle_cv_;
  std::list<Ticket> active_;  // round-robin order
  uint64_t batches_run_ = 0;
  std::vector<Ticket> expired_;  // found by take_batch, failed by the compute loop outside the lock
  bool stopping_ = false;

  std::atomic<bool> draining_{false};
  std::atomic<bool> compute_alive_{false};
  std::atomic<size_t> queued_tokens_{0};
  std::atomic<size_t> in_flight_{0};
  std::atomic<double> tokens_per_second_{0};  // drain rate, smoothed

  struct Instruments;
  std::unique_ptr<Instruments> metrics_;

  std::vector<std::thread> tokenizer_threads_;
  std::thread compute_thread_;
};

}  // namespace rerankd
