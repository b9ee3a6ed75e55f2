#include "engine/scheduler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

namespace rerankd {

// One request in flight. The compute-side fields are guarded by Scheduler::mutex_; `finished`
// makes completion happen exactly once whoever gets there first (compute thread, tokenizer,
// a deadline timer or a disconnect).
class Scheduler::Request {
 public:
  Request(RerankInput in, RerankCallback cb) : input(std::move(in)), done(std::move(cb)) {}

  RerankInput input;
  RerankCallback done;
  Clock::time_point admitted = Clock::now();
  std::atomic<bool> finished{false};

  // Guarded by Scheduler::mutex_.
  struct QueuedPair {
    size_t index;
    EncodedPair pair;
  };
  std::vector<QueuedPair> pending;  // shortest first: the next pair to run is at the back
  size_t pending_tokens = 0;
  size_t unscored = 0;
  std::vector<float> logits;
  size_t total_tokens = 0;
  std::optional<Clock::time_point> first_run;
  double inference_seconds = 0;
  uint64_t last_batch = 0;  // the latest batch that carried one of its pairs
};

struct Scheduler::Instruments {
  explicit Instruments(MetricsRegistry& r)
      : batch_pairs(r.histogram("rerankd_batch_pairs", "Pairs per forward pass",
                                MetricsRegistry::exponential_buckets(1, 2, 10))),
        batch_tokens(r.histogram("rerankd_batch_tokens", "Tokens per forward pass",
                                 MetricsRegistry::exponential_buckets(16, 2, 12))),
        padding(r.histogram("rerankd_batch_padding_ratio",
                            "Share of a batch that padding to its longest pair would add (the packed CPU path "
                            "computes none of it)",
                            {0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9})),
        inference(r.histogram("rerankd_inference_seconds", "Forward-pass time per batch",
                              MetricsRegistry::latency_buckets_seconds())),
        queue(r.histogram("rerankd_queue_seconds", "Admission to the first batch that ran one of the request's pairs",
                          MetricsRegistry::latency_buckets_seconds())),
        tokens(r.counter("rerankd_tokens_processed_total", "Tokens run through the model")),
        pairs(r.counter("rerankd_pairs_processed_total", "Pairs run through the model")),
        dropped_cancelled(r.counter("rerankd_dropped_pairs_total", "Pairs removed before reaching the model",
                                    {{"reason", "cancelled"}})),
        dropped_expired(r.counter("rerankd_dropped_pairs_total", "Pairs removed before reaching the model",
                                  {{"reason", "deadline"}})),
        rejected_concurrency(r.counter("rerankd_rejected_requests_total", "Requests refused by admission control",
                                       {{"reason", "concurrency"}})),
        rejected_queue(r.counter("rerankd_rejected_requests_total", "Requests refused by admission control",
                                 {{"reason", "queue_tokens"}})) {}

  Histogram &batch_pairs, &batch_tokens, &padding, &inference, &queue;
  Counter &tokens, &pairs, &dropped_cancelled, &dropped_expired, &rejected_concurrency, &rejected_queue;
};

Scheduler::Scheduler(Reranker& reranker, const SchedulerOptions& options, MetricsRegistry* metrics)
    : reranker_(reranker), options_(options) {
  if (metrics != nullptr) {
    metrics_ = std::make_unique<Instruments>(*metrics);
    metrics->gauge_callback("rerankd_queue_tokens", "Tokens admitted and waiting for the model",
                            [this] { return static_cast<double>(queued_tokens_.load()); });
    metrics->gauge_callback("rerankd_queue_requests", "Requests admitted and not yet answered",
                            [this] { return static_cast<double>(in_flight_.load()); });
  }
  compute_alive_ = true;
  compute_thread_ = std::thread([this] { compute_loop(); });
  for (int i = 0; i < std::max(1, options_.tokenizer_threads); ++i) {
    tokenizer_threads_.emplace_back([this] { tokenizer_loop(); });
  }
}

Scheduler::~Scheduler() {
  {
    std::scoped_lock lock(tokenize_mutex_, mutex_);
    stopping_ = true;
  }
  tokenize_cv_.notify_all();
  work_cv_.notify_all();
  for (auto& t : tokenizer_threads_) t.join();
  compute_thread_.join();
  // Nothing runs any more: answer whatever was left so no caller waits forever.
  for (const Ticket& r : to_tokenize_) finish(r, Error(Error::Kind::kUnavailable, "server is shutting down"));
  for (const Ticket& r : active_) finish(r, Error(Error::Kind::kUnavailable, "server is shutting down"));
}

Scheduler::Ticket Scheduler::submit(RerankInput input, RerankCallback done) {
  if (draining_) throw Error(Error::Kind::kUnavailable, "server is draining and admits no new requests");
  if (input.documents.empty()) throw Error(Error::Kind::kInvalidInput, "no documents to rerank");
  if (in_flight_.fetch_add(1) >= options_.max_concurrent_requests) {
    in_flight_.fetch_sub(1);
    if (metrics_) metrics_->rejected_concurrency.inc();
    throw Error(Error::Kind::kOverloaded, "too many concurrent requests (limit " +
                                              std::to_string(options_.max_concurrent_requests) + ")");
  }
  auto request = std::make_shared<Request>(std::move(input), std::move(done));
  {
    std::lock_guard lock(tokenize_mutex_);
    to_tokenize_.push_back(request);
  }
  tokenize_cv_.notify_one();
  return request;
}

void Scheduler::cancel(const Ticket& ticket, Error reason) {
  {
    std::lock_guard lock(mutex_);
    if (!ticket->pending.empty() && metrics_) {
      (reason.kind() == Error::Kind::kTimeout ? metrics_->dropped_expired : metrics_->dropped_cancelled)
          .inc(static_cast<double>(ticket->pending.size()));
    }
    queued_tokens_ -= ticket->pending_tokens;
    ticket->pending_tokens = 0;
    ticket->pending.clear();
  }
  finish(ticket, std::move(reason));
}

void Scheduler::begin_drain() { draining_ = true; }

bool Scheduler::wait_idle(Clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return idle_cv_.wait_until(lock, deadline, [this] { return in_flight_.load() == 0; });
}

int Scheduler::retry_after_seconds() const {
  const double rate = tokens_per_second_.load();
  if (rate <= 0) return 1;
  const double seconds = static_cast<double>(queued_tokens_.load()) / rate;
  return static_cast<int>(std::clamp(std::ceil(seconds), 1.0, 60.0));
}

void Scheduler::finish(const Ticket& request, RerankResult result) {
  if (request->finished.exchange(true)) return;
  // Moved out, so the callback and what it captures (the caller's side of the request, which
  // holds this Ticket) are released here even if the Request lives on: no reference cycle.
  const RerankCallback done = std::move(request->done);
  try {
    done(std::move(result));
  } catch (const std::exception& e) {
    spdlog::error("scheduler: completion callback threw: {}", e.what());
  }
  {
    std::lock_guard lock(mutex_);  // pairs with wait_idle's predicate check
    in_flight_.fetch_sub(1);
  }
  idle_cv_.notify_all();
}

void Scheduler::tokenizer_loop() {
  for (;;) {
    Ticket request;
    {
      std::unique_lock lock(tokenize_mutex_);
      tokenize_cv_.wait(lock, [this] { return stopping_ || !to_tokenize_.empty(); });
      if (stopping_) return;
      request = std::move(to_tokenize_.front());
      to_tokenize_.pop_front();
    }
    if (request->finished) continue;  // cancelled while it waited
    try {
      tokenize(request);
    } catch (const Error& e) {
      finish(request, e);
    } catch (const std::exception& e) {
      finish(request, Error(Error::Kind::kInternal, std::string("tokenizer: ") + e.what()));
    }
  }
}

void Scheduler::tokenize(const Ticket& request) {
  const RerankInput& in = request->input;
  const XlmrTokenizer& tokenizer = reranker_.tokenizer();
  const size_t max_length = reranker_.max_length();
  const std::vector<int32_t> query = tokenizer.encode(in.query);

  std::vector<Request::QueuedPair> pairs;
  pairs.reserve(in.documents.size());
  size_t tokens = 0;
  for (size_t i = 0; i < in.documents.size(); ++i) {
    std::vector<int32_t> document = tokenizer.encode(in.documents[i]);
    const size_t full = XlmrTokenizer::pair_length(query.size(), document.size());
    if (!in.truncate && full > max_length) {
      throw Error(Error::Kind::kUnprocessable, "document " + std::to_string(i) + ": the pair has " +
                                                   std::to_string(full) + " tokens but the model takes at most " +
                                                   std::to_string(max_length) + "; send truncate: true to cut it");
    }
    pairs.push_back({i, XlmrTokenizer::assemble_pair(query, std::move(document), max_length, in.truncation_side)});
    tokens += pairs.back().pair.ids.size();
  }
  std::sort(pairs.begin(), pairs.end(),
            [](const auto& a, const auto& b) { return a.pair.ids.size() < b.pair.ids.size(); });

  {
    std::lock_guard lock(mutex_);
    if (request->finished) return;
    if (tokens > options_.max_queued_tokens) {
      throw Error(Error::Kind::kTooLarge, "the request has " + std::to_string(tokens) +
                                              " tokens; the queue holds at most " +
                                              std::to_string(options_.max_queued_tokens));
    }
    if (queued_tokens_ + tokens > options_.max_queued_tokens) {
      if (metrics_) metrics_->rejected_queue.inc();
      throw Error(Error::Kind::kOverloaded, "queue full: " + std::to_string(queued_tokens_.load()) +
                                                " tokens waiting (limit " +
                                                std::to_string(options_.max_queued_tokens) + ")");
    }
    request->unscored = pairs.size();
    request->logits.assign(pairs.size(), 0.f);
    request->total_tokens = tokens;
    request->pending_tokens = tokens;
    request->pending = std::move(pairs);
    queued_tokens_ += tokens;
    active_.push_back(request);
  }
  work_cv_.notify_one();
}

std::vector<Scheduler::PendingPair> Scheduler::take_batch() {
  // Expired requests are failed here, before any of their pairs reach the model.
  const auto now = Clock::now();
  std::vector<PendingPair> batch;
  size_t tokens = 0;
  for (auto it = active_.begin(); it != active_.end();) {
    Request& r = **it;
    if (r.finished || r.unscored == 0) {
      it = active_.erase(it);
    } else if (r.input.deadline <= now && !r.pending.empty()) {
      expired_.push_back(*it);
      it = active_.erase(it);
    } else {
      ++it;
    }
  }
  // Round-robin over requests, one pair each per round, until the batch is full: a request with
  // five hundred pairs and one with a single pair share the next batch instead of queueing.
  bool progress = true;
  while (progress) {
    progress = false;
    for (const Ticket& request : active_) {
      Request& r = *request;
      if (r.pending.empty()) continue;
      const size_t length = r.pending.back().pair.ids.size();
      if (batch.size() >= options_.max_batch_pairs) return batch;
      if (!batch.empty() && tokens + length > options_.max_batch_tokens) continue;
      batch.push_back({request, r.pending.back().index, std::move(r.pending.back().pair)});
      r.pending.pop_back();
      r.pending_tokens -= length;
      queued_tokens_ -= length;
      tokens += length;
      progress = true;
    }
  }
  return batch;
}

void Scheduler::compute_loop() {
  for (;;) {
    std::vector<PendingPair> batch;
    std::vector<Ticket> expired;
    {
      std::unique_lock lock(mutex_);
      work_cv_.wait(lock, [this] {
        return stopping_ || std::any_of(active_.begin(), active_.end(), [](const Ticket& r) { return !r->pending.empty(); });
      });
      if (stopping_) break;
      batch = take_batch();
      expired.swap(expired_);
    }
    for (const Ticket& r : expired) {
      cancel(r, Error(Error::Kind::kTimeout, "deadline passed before the request reached the model"));
    }
    if (!batch.empty()) run_batch(batch);
  }
  compute_alive_ = false;
}

void Scheduler::run_batch(std::vector<PendingPair>& batch) {
  PackedBatch packed;
  size_t longest = 0;
  for (const PendingPair& p : batch) {
    packed.add(p.pair.ids);
    longest = std::max(longest, p.pair.ids.size());
  }
  const auto start = Clock::now();
  std::vector<float> logits;
  try {
    logits = reranker_.model().forward(packed);
  } catch (const std::exception& e) {
    spdlog::error("scheduler: forward pass failed: {}", e.what());
    for (const PendingPair& p : batch) cancel(p.request, Error(Error::Kind::kInternal, std::string("model: ") + e.what()));
    return;
  }
  const auto end = Clock::now();
  const double seconds = std::chrono::duration<double>(end - start).count();
  const double tokens = static_cast<double>(packed.num_tokens());
  if (seconds > 0) {
    const double rate = tokens / seconds, old = tokens_per_second_.load();
    tokens_per_second_ = old == 0 ? rate : 0.8 * old + 0.2 * rate;
  }
  if (metrics_) {
    metrics_->batch_pairs.observe(static_cast<double>(batch.size()));
    metrics_->batch_tokens.observe(tokens);
    metrics_->padding.observe(1.0 - tokens / static_cast<double>(longest * batch.size()));
    metrics_->inference.observe(seconds);
    metrics_->tokens.inc(tokens);
    metrics_->pairs.inc(static_cast<double>(batch.size()));
  }

  std::vector<Ticket> completed;
  {
    std::lock_guard lock(mutex_);
    const uint64_t batch_number = ++batches_run_;
    for (size_t i = 0; i < batch.size(); ++i) {
      Request& r = *batch[i].request;
      r.logits[batch[i].index] = logits[i];
      if (!r.first_run) {
        r.first_run = start;
        if (metrics_) metrics_->queue.observe(std::chrono::duration<double>(start - r.admitted).count());
      }
      if (r.last_batch != batch_number) r.inference_seconds += seconds;  // once per batch per request
      r.last_batch = batch_number;
      if (--r.unscored == 0) completed.push_back(batch[i].request);
    }
  }
  for (const Ticket& r : completed) {
    RerankOutput out;
    out.logits = std::move(r->logits);
    out.total_tokens = r->total_tokens;
    out.queue_seconds = std::chrono::duration<double>(*r->first_run - r->admitted).count();
    out.inference_seconds = r->inference_seconds;
    finish(r, std::move(out));
  }
}

}  // namespace rerankd
