#include "engine/scheduler.h"


#include <algorithm>
#include <cmath>
#include <cstdio>
#include <system_error>
#include <span>

namespace rerankd {

// One request in flight. `finished` makes completion happen exactly once whoever gets there first
// (worker thread, tokenizer, a deadline timer or a disconnect).
class Scheduler::Request {
 public:
  Request(RerankInput in, RerankCallback cb, uint64_t request_id, Clock::time_point now)
      : input(std::move(in)), done(std::move(cb)), id(request_id), accepted(now) {}

  RerankInput input;
  RerankCallback done;
  const uint64_t id;  // the policy's RequestId
  const Clock::time_point accepted;
  std::atomic<bool> finished{false};

  // Guarded by Scheduler::mutex_ once admitted. A unit is one pair of a document (its one pair, or
  // one of its chunks); a queued pair scores one unit or, with the cache on, every identical one.
  std::vector<EncodedPair> pairs;             // to score, by the policy's pair index
  std::vector<std::vector<uint32_t>> units_of;  // per queued pair
  std::vector<float> unit_logits;
  std::vector<ChunkChoice> unit_chunks;
  std::vector<uint32_t> first_unit;  // per document, and the end: its units
  std::vector<PairUsage> usage;      // per document
  size_t unscored = 0;
  size_t total_tokens = 0;
  size_t cached_pairs = 0;
  std::optional<Clock::time_point> first_run;
  double inference_seconds = 0;
  uint64_t last_pass = 0;  // the latest pass that carried one of its pairs
};

class Scheduler::Passes final : public PassSource {
 public:
  explicit Passes(Scheduler& s) : s_(s) {}
  std::optional<PlannedPass> next_pass(Wait wait) override { return s_.next_pass(wait); }
  void pass_done(PlannedPass& pass, PassOutcome outcome) override { s_.pass_done(pass, std::move(outcome)); }

 private:
  Scheduler& s_;
};

struct Scheduler::Instruments {
  Instruments(MetricsRegistry& r, const Labels& l)
      : batch_pairs(r.histogram("rerankd_batch_pairs", "Pairs per forward pass",
                                MetricsRegistry::exponential_buckets(1, 2, 11), l)),
        batch_tokens(r.histogram("rerankd_batch_tokens", "Tokens per forward pass",
                                 MetricsRegistry::exponential_buckets(16, 2, 13), l)),
        padding(r.histogram("rerankd_batch_padding_ratio",
                            "Share of a batch that padding to its longest pair would add (the packed CPU path "
                            "computes none of it)",
                            {0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9}, l)),
        inference(r.histogram("rerankd_inference_seconds", "Forward-pass time per batch",
                              MetricsRegistry::latency_buckets_seconds(), l)),
        queue(r.histogram("rerankd_queue_seconds", "Admission to the first batch that ran one of the request's pairs",
                          MetricsRegistry::latency_buckets_seconds(), l)),
        tokens(r.counter("rerankd_tokens_processed_total", "Tokens run through the model", l)),
        pairs(r.counter("rerankd_pairs_processed_total", "Pairs run through the model", l)),
        dropped_cancelled(r.counter("rerankd_dropped_pairs_total", "Pairs removed before reaching the model",
                                    l + Labels{{"reason", "cancelled"}})),
        dropped_deadline(r.counter("rerankd_dropped_pairs_total", "Pairs removed before reaching the model",
                                   l + Labels{{"reason", "deadline"}})),
        rejected_concurrency(r.counter("rerankd_rejected_requests_total", "Requests refused by admission control",
                                       l + Labels{{"reason", "concurrency"}})),
        rejected_queue_tokens(r.counter("rerankd_rejected_requests_total", "Requests refused by admission control",
                                        l + Labels{{"reason", "queue_tokens"}})),
        rejected_deadline(r.counter("rerankd_rejected_requests_total", "Requests refused by admission control",
                                    l + Labels{{"reason", "deadline"}})),
        rejected_never(r.counter("rerankd_rejected_requests_total", "Requests refused by admission control",
                                 l + Labels{{"reason", "too_slow_even_idle"}})),
        cache_hits(r.counter("rerankd_score_cache_lookups_total", "Score cache lookups of distinct pairs",
                             l + Labels{{"result", "hit"}})),
        cache_misses(r.counter("rerankd_score_cache_lookups_total", "Score cache lookups of distinct pairs",
                               l + Labels{{"result", "miss"}})),
        cache_evictions(r.counter("rerankd_score_cache_evictions_total", "Scores dropped from the cache for room", l)),
        shared_pairs(r.counter("rerankd_shared_pairs_total",
                               "Pairs not run because an identical pair of the same request or pass was", l)) {}

  Histogram &batch_pairs, &batch_tokens, &padding, &inference, &queue;
  Counter &tokens, &pairs, &dropped_cancelled, &dropped_deadline, &rejected_concurrency, &rejected_queue_tokens,
      &rejected_deadline, &rejected_never, &cache_hits, &cache_misses, &cache_evictions, &shared_pairs;
};

namespace {

const TimeSource& steady_clock_source() {
  static const SteadyTimeSource clock;
  return clock;
}

PolicyOptions policy_options(const SchedulerOptions& o) {
  return {.limits = {.max_tokens = o.max_batch_tokens, .max_pairs = o.max_batch_pairs},
          .max_pass_seconds = o.default_timeout_seconds / 10,
          .max_queue_seconds = o.queue_seconds()};
}

// What makes two pairs the same for the cache and for sharing a sequence: their ids and, for models
// with token types, those too (a literal [SEP] in a query moves where the document's type begins).
std::vector<int32_t> identity_of(std::span<const int32_t> ids, std::span<const int32_t> type_ids) {
  std::vector<int32_t> identity(ids.begin(), ids.end());
  identity.insert(identity.end(), type_ids.begin(), type_ids.end());
  return identity;
}

std::string key_of(std::span<const int32_t> ids) {
  return std::string(reinterpret_cast<const char*>(ids.data()), ids.size_bytes());
}

std::string seconds_text(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f s", s);
  return text;
}

// How often, in documents, the tokenizer asks whether the documents so far could still make the
// request's deadline: a hopeless request is refused after a fraction of its tokenization rather
// than after all of it (which, on a busy machine, can outlast the deadline itself).
constexpr size_t kHopelessCheckEvery = 16;

Error never_in_time_error(double alone_seconds, size_t tokens, double left, std::string_view scope) {
  const std::string needs = scope.empty() ? "the request needs " : "the request needs, " + std::string(scope) + ", ";
  return Error(Error::Kind::kTooLarge, needs + "about " + seconds_text(alone_seconds) +
                                           " of model time (" + std::to_string(tokens) +
                                           " tokens) even on an idle server, and its deadline leaves " +
                                           seconds_text(left) +
                                           "; send fewer or shorter documents, or a longer X-Request-Timeout");
}

}  // namespace

Scheduler::Scheduler(Reranker& reranker, const SchedulerOptions& options, MetricsRegistry* metrics)
    : Scheduler(reranker.tokenizer(), reranker.max_length(),
                std::make_unique<ModelPassRunner>(reranker.model(), reranker.pass_slots()), steady_clock_source(),
                options, metrics) {}

Scheduler::Scheduler(const PairTokenizer& tokenizer, size_t max_length, ForwardFn forward, const TimeSource& clock,
                     const SchedulerOptions& options, MetricsRegistry* metrics)
    : Scheduler(tokenizer, max_length, std::make_unique<SyncPassRunner>(std::move(forward)), clock, options,
                metrics) {}

Scheduler::Scheduler(const PairTokenizer& tokenizer, size_t max_length, std::unique_ptr<PassRunner> runner,
                     const TimeSource& clock, const SchedulerOptions& options, MetricsRegistry* metrics)
    : tokenizer_(tokenizer), max_length_(max_length), clock_(clock), options_(options),
      policy_(policy_options(options)), runner_(std::move(runner)) {
  if (metrics != nullptr) {
    metrics_ = std::make_unique<Instruments>(*metrics, options_.metric_labels);
    metrics->gauge_callback("rerankd_queue_tokens", "Tokens admitted and waiting for the model",
                            [this] { return static_cast<double>(queued_tokens_.load()); },
                            options_.metric_labels);
    metrics->gauge_callback("rerankd_queue_requests", "Requests admitted and not yet answered",
                            [this] { return static_cast<double>(in_flight_.load()); },
                            options_.metric_labels);
    metrics->gauge_callback("rerankd_queue_work_seconds", "Predicted model time of the admitted work",
                            [this] { return batching().queued_seconds; },
                            options_.metric_labels);
    metrics->gauge_callback("rerankd_batch_token_budget", "Tokens per forward pass in force, chosen from measurement",
                            [this] { return static_cast<double>(batching().token_budget); },
                            options_.metric_labels);
    metrics->gauge_callback("rerankd_measured_tokens_per_second", "Forward-pass throughput measured at the budget",
                            [this] { return batching().tokens_per_second; },
                            options_.metric_labels);
  }
  if (options_.score_cache_bytes > 0) {
    cache_ = std::make_unique<ScoreCache>(options_.score_cache_bytes);
    if (metrics != nullptr) {
      metrics->gauge_callback("rerankd_score_cache_entries", "Scores held by the cache",
                              [this] { return static_cast<double>(cache_->stats().entries); },
                              options_.metric_labels);
      metrics->gauge_callback("rerankd_score_cache_bytes", "Bytes the cached scores take (bound: --score-cache-mb)",
                              [this] { return static_cast<double>(cache_->stats().bytes); },
                              options_.metric_labels);
    }
  }
  if (options_.warm_up) {
    // The first pass pays one-time set-up; the second is the first measurement admission can use.
    const std::string text = "warm up the model before the first request is admitted";
    const EncodedPair pair = tokenizer_.encode_pair(text, text + " " + text, max_length_);
    warm_up_.add(pair.ids, pair.type_ids);
    warm_up_passes_ = warm_up_pending_ = 2;
  }
  try {
    for (int i = 0; i < std::max(1, options_.tokenizer_threads); ++i) {
      tokenizer_threads_.emplace_back([this] { tokenizer_loop(); });
    }
    passes_ = std::make_unique<Passes>(*this);
    worker_ = std::make_unique<BackendWorker>(*passes_, *runner_, clock_);
  } catch (const std::system_error& e) {
    // A thread that cannot start (no memory for its stack under `ulimit -v`, a process limit):
    // stop those that did, whose joinable std::threads would otherwise terminate the process.
    {
      std::scoped_lock lock(tokenize_mutex_, mutex_);
      stopping_ = true;
    }
    tokenize_cv_.notify_all();
    for (auto& t : tokenizer_threads_) t.join();
    throw Error(Error::Kind::kUnavailable, std::string("cannot start the scheduler's threads: ") + e.what() +
                                               " (out of memory or a process limit)");
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
  worker_.reset();
  // Nothing runs any more: answer whatever was left so no caller waits forever.
  for (const Ticket& r : to_tokenize_) finish(r, Error(Error::Kind::kUnavailable, "server is shutting down"));
  for (const auto& [id, r] : admitted_) finish(r, Error(Error::Kind::kUnavailable, "server is shutting down"));
}

Scheduler::Ticket Scheduler::submit(RerankInput input, RerankCallback done) {
  if (draining_) throw Error(Error::Kind::kUnavailable, "server is draining and admits no new requests");
  if (input.documents.empty()) throw Error(Error::Kind::kInvalidInput, "no documents to rerank");
  if (in_flight_.fetch_add(1) >= options_.max_concurrent_requests) {
    in_flight_.fetch_sub(1);
    if (metrics_) metrics_->rejected_concurrency.inc();
    throw Error(Error::Kind::kOverloaded,
                "too many concurrent requests (limit " + std::to_string(options_.max_concurrent_requests) + ")",
                retry_after_seconds());
  }
  auto request = std::make_shared<Request>(std::move(input), std::move(done), next_id_++, clock_.now());
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
    const size_t dropped = policy_.remove(ticket->id);
    if (dropped > 0 && metrics_) {
      (reason.kind() == Error::Kind::kTimeout ? metrics_->dropped_deadline : metrics_->dropped_cancelled)
          .inc(static_cast<double>(dropped));
    }
    admitted_.erase(ticket->id);
    queued_tokens_ = policy_.queued_tokens();
  }
  finish(ticket, std::move(reason));
}

std::optional<ScoreCache::Stats> Scheduler::cache_stats() const {
  if (!cache_) return std::nullopt;
  return cache_->stats();
}

void Scheduler::begin_drain() { draining_ = true; }

bool Scheduler::wait_idle(Clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return idle_cv_.wait_until(lock, deadline, [this] { return in_flight_.load() == 0 && warm_up_pending_ == 0; });
}

BatchingState Scheduler::batching() const {
  std::lock_guard lock(mutex_);
  const ForwardCostModel& cost = policy_.cost();
  return {cost.token_budget(), cost.exploring(), cost.tokens_per_second(), policy_.queued_seconds(clock_.now())};
}

int Scheduler::retry_after_seconds() const {
  const double seconds = batching().queued_seconds;
  return static_cast<int>(std::clamp(std::ceil(seconds), 1.0, 3600.0));
}

void Scheduler::finish(const Ticket& request, RerankResult result) {
  if (request->finished.exchange(true)) return;
  // Moved out, so the callback and what it captures (the caller's side of the request, which
  // holds this Ticket) are released here even if the Request lives on: no reference cycle.
  const RerankCallback done = std::move(request->done);
  [&]() noexcept { done(std::move(result)); }();
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
  RerankInput& in = request->input;
  PairPlan plan = resolve_plan(in.chunks, options_.chunk_defaults, in.truncation.value_or(options_.truncation),
                               in.truncation_side, max_length_);
  plan.return_chunks = in.return_chunks;
  // Each text is tokenized only as far as the plan can use (the query to the pair's budget + 1), so
  // a request costs what it can use, however long its texts are.
  const QueryPairs query(tokenizer_, in.query, plan);

  // Every unit (a document's pair or one of its chunks); with the cache on, identical ones queue
  // one pair, and those the cache knows queue none.
  Request& r = *request;
  std::unordered_map<std::string, uint32_t> queued;  // ids -> index in r.pairs
  std::vector<size_t> lengths;
  size_t tokens = 0;
  size_t run_tokens = 0;  // of the pairs queued (not shared, not cached)
  r.first_unit.push_back(0);
  for (size_t i = 0; i < in.documents.size(); ++i) {
    DocumentPairs doc = query.document(in.documents[i]);
    in.documents[i] = std::string();  // tokenized: the text is not needed any more
    if (!in.truncate && doc.truncated) {
      throw Error(Error::Kind::kUnprocessable, "document " + std::to_string(i) + ": the pair has more than " +
                                                   std::to_string(max_length_) +
                                                   " tokens, the most the model takes; send truncate: true to cut it");
    }
    PairUsage usage{0, doc.truncated};
    for (const DocumentPair& p : doc.pairs) usage.tokens += p.pair.ids.size();
    r.usage.push_back(usage);
    const size_t units = r.unit_logits.size() + doc.pairs.size();
    if (options_.max_pairs_per_request > 0 && units > options_.max_pairs_per_request) {
      throw Error(Error::Kind::kTooLarge, "the documents make more than " + std::to_string(options_.max_pairs_per_request) +
                                              " pairs with their chunks, the limit per request "
                                              "(--max-client-batch-size); send fewer documents or fewer chunks");
    }
    for (size_t k = 0; k < doc.pairs.size(); ++k) {
      DocumentPair& p = doc.pairs[k];
      const auto unit = static_cast<uint32_t>(r.unit_logits.size());
      r.unit_logits.push_back(0.f);
      r.unit_chunks.push_back({static_cast<uint32_t>(k), static_cast<uint32_t>(doc.pairs.size()), p.char_start, p.char_end});
      tokens += p.pair.ids.size();
      if (cache_) {
        const std::vector<int32_t> identity = identity_of(p.pair.ids, p.pair.type_ids);
        std::string key = key_of(identity);
        if (const auto it = queued.find(key); it != queued.end()) {
          r.units_of[it->second].push_back(unit);
          if (metrics_) metrics_->shared_pairs.inc();
          continue;
        }
        const std::optional<float> hit = cache_->find(identity);
        if (metrics_) (hit ? metrics_->cache_hits : metrics_->cache_misses).inc();
        if (hit) {
          r.unit_logits[unit] = *hit;
          ++r.cached_pairs;
          continue;
        }
        queued.emplace(std::move(key), static_cast<uint32_t>(r.pairs.size()));
      }
      lengths.push_back(p.pair.ids.size());
      run_tokens += p.pair.ids.size();
      r.units_of.push_back({unit});
      r.pairs.push_back(std::move(p.pair));
    }
    r.first_unit.push_back(static_cast<uint32_t>(r.unit_logits.size()));
    if ((i + 1) % kHopelessCheckEvery == 0 && i + 1 < in.documents.size()) {
      std::lock_guard lock(mutex_);
      const Clock::time_point now = clock_.now();
      if (in.deadline <= now) throw Error(Error::Kind::kTimeout, "the request's deadline passed while it was tokenized");
      if (const auto alone = policy_.never_in_time(run_tokens, in.deadline, now)) {
        if (metrics_) metrics_->rejected_never.inc();
        throw never_in_time_error(*alone, run_tokens, seconds_between(now, in.deadline),
                                  "for its first " + std::to_string(i + 1) + " of " +
                                      std::to_string(in.documents.size()) + " documents alone");
      }
    }
  }
  r.total_tokens = tokens;
  if (r.pairs.empty()) {  // all cached: answered here, without queueing
    finish(request, output_of(r));
    return;
  }
  {
    std::lock_guard lock(mutex_);
    if (request->finished) return;
    if (const size_t cap = options_.max_queued_tokens; cap > 0) {
      if (run_tokens > cap) {
        throw Error(Error::Kind::kTooLarge, "the request has " + std::to_string(run_tokens) +
                                                " tokens to run; the queue holds at most " + std::to_string(cap));
      }
      if (policy_.queued_tokens() + run_tokens > cap) {
        if (metrics_) metrics_->rejected_queue_tokens.inc();
        throw Error(Error::Kind::kOverloaded,
                    "queue full: " + std::to_string(policy_.queued_tokens()) + " tokens waiting (limit " +
                        std::to_string(cap) + ")",
                    policy_.queued_seconds(clock_.now()));
      }
    }
    const Clock::time_point now = clock_.now();
    if (in.deadline <= now) throw Error(Error::Kind::kTimeout, "the request's deadline passed before it was admitted");
    const BatchPolicy::Admission a = policy_.admit(request->id, lengths, in.deadline, now);
    const double left = seconds_between(now, in.deadline);
    switch (a.outcome) {
      case BatchPolicy::Admission::Outcome::kNeverInTime:
        if (metrics_) metrics_->rejected_never.inc();
        throw never_in_time_error(a.alone_seconds, run_tokens, left, "");
      case BatchPolicy::Admission::Outcome::kQueueFull:
        if (metrics_) metrics_->rejected_deadline.inc();
        throw Error(Error::Kind::kOverloaded,
                    "overloaded: with the work admitted ahead of it the request would finish in " +
                        seconds_text(a.finish_seconds) + ", past its deadline (" + seconds_text(left) +
                        ") or the queue bound (" + seconds_text(options_.queue_seconds()) + ")",
                    a.retry_after);
      case BatchPolicy::Admission::Outcome::kAdmitted:
        break;
    }
    r.unscored = r.pairs.size();
    admitted_.emplace(request->id, request);
    queued_tokens_ = policy_.queued_tokens();
  }
  work_cv_.notify_one();
}

std::optional<PlannedPass> Scheduler::next_pass(PassSource::Wait wait) {
  std::unique_lock lock(mutex_);
  for (;;) {
    const auto ready = [this] { return stopping_ || warm_up_passes_ > 0 || policy_.has_work(); };
    if (wait == PassSource::Wait::kPoll && !ready()) return std::nullopt;
    work_cv_.wait(lock, ready);
    if (stopping_) return std::nullopt;
    if (warm_up_passes_ > 0) {
      --warm_up_passes_;
      return PlannedPass{.batch = warm_up_, .pairs = {}, .sequence_of = {}};
    }
    const BatchPolicy::Pass pass = policy_.next_pass(clock_.now());
    queued_tokens_ = policy_.queued_tokens();
    std::vector<Ticket> hopeless;
    for (const uint64_t id : pass.hopeless) {
      const auto it = admitted_.find(id);
      hopeless.push_back(std::move(it->second));
      admitted_.erase(it);
    }
    if (metrics_) metrics_->dropped_deadline.inc(static_cast<double>(pass.hopeless_pairs));
    PlannedPass planned;
    planned.pairs = pass.pairs;
    if (cache_) {  // identical pairs of different requests run once
      std::unordered_map<std::string, uint32_t> sequences;
      for (const BatchPolicy::PairRef& p : pass.pairs) {
        const EncodedPair& pair = admitted_.at(p.request)->pairs[p.index];
        const auto [it, added] = sequences.emplace(key_of(identity_of(pair.ids, pair.type_ids)),
                                                   static_cast<uint32_t>(planned.batch.num_sequences()));
        if (added) planned.batch.add(pair.ids, pair.type_ids);
        else if (metrics_) metrics_->shared_pairs.inc();
        planned.sequence_of.push_back(it->second);
      }
    } else {
      for (const BatchPolicy::PairRef& p : pass.pairs) {
        const EncodedPair& pair = admitted_.at(p.request)->pairs[p.index];
        planned.batch.add(pair.ids, pair.type_ids);
      }
    }
    if (!hopeless.empty()) {
      lock.unlock();
      for (const Ticket& r : hopeless) {
        finish(r, Error(Error::Kind::kTimeout,
                        "the request could not finish before its deadline; its remaining pairs were dropped"));
      }
      lock.lock();
    }
    if (!planned.pairs.empty()) return planned;
  }
}

void Scheduler::pass_done(PlannedPass& pass, PassOutcome outcome) {
  const size_t tokens = pass.batch.num_tokens();
  if (pass.pairs.empty()) {  // a warm-up pass
    {
      std::lock_guard lock(mutex_);
      // The last one (they finish in order, and may both be planned before the first is done):
      // the first pays the one-time set-up.
      if (warm_up_pending_ == 1) policy_.record(tokens, outcome.seconds);
      --warm_up_pending_;
    }
    idle_cv_.notify_all();
    return;
  }
  std::vector<Ticket> failed, completed;
  if (!outcome.error.empty()) {
    {
      std::lock_guard lock(mutex_);
      policy_.pass_done(0, 0);  // a failed pass measures nothing
      for (const BatchPolicy::PairRef& p : pass.pairs) {
        const auto it = admitted_.find(p.request);
        if (it == admitted_.end()) continue;
        policy_.remove(p.request);
        failed.push_back(std::move(it->second));
        admitted_.erase(it);
      }
      queued_tokens_ = policy_.queued_tokens();
    }
    for (const Ticket& r : failed) finish(r, Error(Error::Kind::kInternal, "model: " + outcome.error));
    return;
  }
  if (metrics_) {
    size_t longest = 0;
    for (size_t i = 0; i + 1 < pass.batch.seq_starts.size(); ++i) {
      longest = std::max(longest, static_cast<size_t>(pass.batch.seq_starts[i + 1] - pass.batch.seq_starts[i]));
    }
    const double t = static_cast<double>(tokens);
    metrics_->batch_pairs.observe(static_cast<double>(pass.batch.num_sequences()));
    metrics_->batch_tokens.observe(t);
    metrics_->padding.observe(1.0 - t / static_cast<double>(longest * pass.batch.num_sequences()));
    metrics_->inference.observe(outcome.seconds);
    metrics_->tokens.inc(t);
    metrics_->pairs.inc(static_cast<double>(pass.batch.num_sequences()));
  }
  if (cache_) {
    for (size_t s = 0; s < pass.batch.num_sequences(); ++s) {
      const auto begin = static_cast<size_t>(pass.batch.seq_starts[s]);
      const auto end = static_cast<size_t>(pass.batch.seq_starts[s + 1]);
      const std::span<const int32_t> types =
          pass.batch.type_ids.empty() ? std::span<const int32_t>()
                                      : std::span<const int32_t>(pass.batch.type_ids).subspan(begin, end - begin);
      const size_t evicted = cache_->insert(
          identity_of(std::span<const int32_t>(pass.batch.ids).subspan(begin, end - begin), types), outcome.logits[s]);
      if (metrics_ && evicted > 0) metrics_->cache_evictions.inc(static_cast<double>(evicted));
    }
  }
  {
    std::lock_guard lock(mutex_);
    policy_.pass_done(tokens, outcome.seconds);
    const uint64_t pass_number = ++passes_run_;
    for (size_t i = 0; i < pass.pairs.size(); ++i) {
      const auto it = admitted_.find(pass.pairs[i].request);
      if (it == admitted_.end()) continue;  // cancelled while the pass ran
      Request& r = *it->second;
      const float logit = outcome.logits[pass.sequence_of.empty() ? i : pass.sequence_of[i]];
      for (const uint32_t unit : r.units_of[pass.pairs[i].index]) r.unit_logits[unit] = logit;
      if (!r.first_run) {
        r.first_run = outcome.start;
        if (metrics_) metrics_->queue.observe(seconds_between(r.accepted, outcome.start));
      }
      if (r.last_pass != pass_number) r.inference_seconds += outcome.seconds;  // once per pass per request
      r.last_pass = pass_number;
      if (--r.unscored == 0) {
        completed.push_back(std::move(it->second));
        admitted_.erase(it);
      }
    }
  }
  for (const Ticket& r : completed) {
    RerankOutput out = output_of(*r);
    out.queue_seconds = seconds_between(r->accepted, *r->first_run);
    out.inference_seconds = r->inference_seconds;
    finish(r, std::move(out));
  }
}

RerankOutput Scheduler::output_of(Request& r) {
  RerankOutput out;
  out.total_tokens = r.total_tokens;
  out.cached_pairs = r.cached_pairs;
  out.usage = r.usage;
  const size_t documents = r.first_unit.size() - 1;
  out.logits.resize(documents);
  out.chunks.resize(documents);
  for (size_t d = 0; d < documents; ++d) {
    // The best window, as Cohere scores a chunked document; the first on a tie; NaN only if all are.
    uint32_t best = r.first_unit[d];
    for (uint32_t u = best + 1; u < r.first_unit[d + 1]; ++u) {
      if (r.unit_logits[u] > r.unit_logits[best] || (std::isnan(r.unit_logits[best]) && !std::isnan(r.unit_logits[u]))) {
        best = u;
      }
    }
    out.logits[d] = r.unit_logits[best];
    out.chunks[d] = r.unit_chunks[best];
  }
  return out;
}

}  // namespace rerankd
