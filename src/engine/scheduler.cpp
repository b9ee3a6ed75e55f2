#include "engine/scheduler.h"

#include <algorithm>
#include <cmath>
#include <span>
#include <string>

#include "engine/pass_planner.h"

namespace rerankd {

class Scheduler::Passes final : public PassSource {
 public:
  explicit Passes(Scheduler& s) : s_(s) {}
  std::optional<PlannedPass> next_pass(Wait wait) override { return s_.next_pass(wait); }
  void pass_done(PlannedPass& pass, PassOutcome outcome) override { s_.pass_done(pass, std::move(outcome)); }

 private:
  Scheduler& s_;
};

namespace {

const TimeSource& steady_clock_source() {
  static const SteadyTimeSource clock;
  return clock;
}

PolicyOptions policy_options(const SchedulerOptions& o) {
  return {.limits = o.batch,
          .max_pass_seconds = o.default_timeout_seconds / 10,
          .max_queue_seconds = o.queue_seconds(),
          .tenant_weights = o.tenant_weights};
}

AdmissionLimits admission_limits(const SchedulerOptions& o) {
  return {.max_concurrent_requests = o.max_concurrent_requests,
          .max_queued_tokens = o.max_queued_tokens,
          .queue_seconds = o.queue_seconds()};
}

EncoderSettings encoder_settings(const SchedulerOptions& o, size_t max_length) {
  return {.max_length = max_length,
          .truncation = o.truncation,
          .chunk_defaults = o.chunk_defaults,
          .max_pairs_per_request = o.max_pairs_per_request};
}

std::unique_ptr<ScoreCache> score_cache(size_t bytes) {
  return bytes > 0 ? std::make_unique<ScoreCache>(bytes) : nullptr;
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
    : clock_(clock),
      options_(options),
      metrics_(metrics, options.metric_labels),
      cache_(score_cache(options.score_cache_bytes)),
      encoder_(tokenizer, encoder_settings(options, max_length), cache_.get(), metrics_),
      policy_(policy_options(options)),
      admission_(admission_limits(options), policy_, metrics_),
      runner_(std::move(runner)) {
  MetricsRegistry& r = metrics_.registry;
  const Labels& l = options_.metric_labels;
  r.gauge_callback("rerankd_queue_tokens", "Tokens admitted and waiting for the model",
                   [this] { return static_cast<double>(queued_tokens_.load()); }, l);
  r.gauge_callback("rerankd_queue_requests", "Requests admitted and not yet answered",
                   [this] { return static_cast<double>(admission_.in_flight()); }, l);
  r.gauge_callback("rerankd_queue_work_seconds", "Predicted model time of the admitted work",
                   [this] { return batching().queued_seconds; }, l);
  r.gauge_callback("rerankd_batch_token_budget", "Tokens per forward pass in force, chosen from measurement",
                   [this] { return static_cast<double>(batching().token_budget); }, l);
  r.gauge_callback("rerankd_measured_tokens_per_second", "Forward-pass throughput measured at the budget",
                   [this] { return batching().tokens_per_second; }, l);
  if (cache_) {
    r.gauge_callback("rerankd_score_cache_entries", "Scores held by the cache",
                     [this] { return static_cast<double>(cache_->stats().entries); }, l);
    r.gauge_callback("rerankd_score_cache_bytes", "Bytes the cached scores take (at most the cache's bound)",
                     [this] { return static_cast<double>(cache_->stats().bytes); }, l);
  }
  if (options_.warm_up) {
    // The first pass pays one-time set-up; the second is the first measurement admission can use.
    const std::string text = "warm up the model before the first request is admitted";
    const EncodedPair pair = tokenizer.encode_pair(text, text + " " + text, max_length);
    warm_up_ = PackedBatch(runner_->position_rule());
    warm_up_.add(pair.ids, pair.type_ids);
    warm_up_passes_ = warm_up_pending_ = 2;
  }
  tokenizers_ = std::make_unique<TokenizerPool>(options_.tokenizer_threads, options_.feeder_nice,
                                                [this](const Ticket& request) { encode_and_admit(request); });
  passes_ = std::make_unique<Passes>(*this);
  try {
    worker_ = std::make_unique<BackendWorker>(*passes_, *runner_, clock_);
  } catch (const std::system_error& e) {
    tokenizers_->stop();
    throw Error(Error::Kind::kUnavailable, std::string("cannot start the backend worker: ") + e.what() +
                                               " (out of memory or a process limit)");
  }
}

Scheduler::~Scheduler() {
  const auto never_encoded = tokenizers_->stop();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_cv_.notify_all();
  worker_.reset();
  // Nothing runs any more: answer whatever was left so no caller waits forever.
  const Error stopped(Error::Kind::kUnavailable, "server is shutting down");
  for (const Ticket& r : never_encoded) finish(r, stopped);
  for (const auto& [id, r] : admitted_) finish(r, stopped);
}

void Scheduler::screen(std::string_view tenant, size_t body_bytes, Clock::time_point deadline) {
  if (draining_) throw Error(Error::Kind::kUnavailable, "server is draining and admits no new requests");
  admission_.screen_room([this] { return retry_after_seconds(); });
  const size_t tokens = encoder_.least_tokens(body_bytes);
  std::lock_guard lock(mutex_);
  admission_.screen(tenant, tokens, deadline, clock_.now());
}

Scheduler::Ticket Scheduler::submit(RerankInput input, RerankCallback done) {
  if (draining_) throw Error(Error::Kind::kUnavailable, "server is draining and admits no new requests");
  if (input.documents.empty()) throw Error(Error::Kind::kInvalidInput, "no documents to rerank");
  {
    const size_t tokens = encoder_.least_tokens(input);
    std::lock_guard lock(mutex_);
    admission_.screen(input.tenant, tokens, input.deadline, clock_.now());
  }
  admission_.enter([this] { return retry_after_seconds(); });
  auto request = std::make_shared<RequestState>(std::move(input), std::move(done), next_id_++, clock_.now());
  tokenizers_->push(request);
  return request;
}

void Scheduler::cancel(const Ticket& ticket, Error reason) {
  {
    // Claimed under the mutex that admission holds, so a tokenizer thread cannot admit the request
    // between its removal here and its completion.
    std::lock_guard lock(mutex_);
    if (!ticket->claim()) return;
    const size_t dropped = policy_.remove(ticket->id);
    (reason.kind() == Error::Kind::kTimeout ? metrics_.dropped_deadline : metrics_.dropped_cancelled)
        .inc(static_cast<double>(dropped));
    admitted_.erase(ticket->id);
    queued_tokens_ = policy_.queued_tokens();
  }
  complete(ticket, std::move(reason));
}

std::optional<ScoreCache::Stats> Scheduler::cache_stats() const {
  if (!cache_) return std::nullopt;
  return cache_->stats();
}

void Scheduler::begin_drain() { draining_ = true; }

bool Scheduler::wait_idle(Clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return idle_cv_.wait_until(lock, deadline,
                             [this] { return admission_.in_flight() == 0 && warm_up_pending_ == 0; });
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

void Scheduler::complete(const Ticket& request, RerankResult result) {
  request->deliver(std::move(result));
  {
    std::lock_guard lock(mutex_);  // pairs with wait_idle's predicate check
    admission_.leave();
  }
  idle_cv_.notify_all();
}

void Scheduler::encode_and_admit(const Ticket& request) {
  if (request->finished()) return;  // cancelled while it waited
  RerankInput& in = request->input;
  try {
    const size_t documents = in.documents.size();
    // Tokenize only what may be admitted: after each document, the tokens so far and the least
    // the rest can cost must still fit, or the request is refused before the rest is encoded.
    EncodedRequest encoded = encoder_.encode(in, [&](size_t run_tokens, size_t rest_at_least, size_t done) {
      std::lock_guard lock(mutex_);
      admission_.screen(in.tenant, run_tokens + rest_at_least, in.deadline, clock_.now(), done, documents);
    });
    if (encoded.pairs.empty()) {  // all cached: answered here, without queueing
      request->encoded = std::move(encoded);
      finish(request, request->output());
      return;
    }
    {
      std::lock_guard lock(mutex_);
      if (request->finished()) return;  // cancel() claims under this mutex
      admission_.admit(request->id, in.tenant, encoded.lengths(), encoded.run_tokens, in.deadline, clock_.now());
      request->unscored = encoded.pairs.size();
      request->encoded = std::move(encoded);
      admitted_.emplace(request->id, request);
      queued_tokens_ = policy_.queued_tokens();
    }
    work_cv_.notify_one();
  } catch (const Error& e) {
    finish(request, e);
  } catch (const std::exception& e) {
    finish(request, Error(Error::Kind::kInternal, std::string("tokenizer: ") + e.what()));
  }
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
      if (it->second->claim()) hopeless.push_back(std::move(it->second));
      admitted_.erase(it);
    }
    metrics_.dropped_deadline.inc(static_cast<double>(pass.hopeless_pairs));
    PlannedPass planned = plan_pass(
        pass, [this](const BatchPolicy::PairRef& p) -> const EncodedPair& {
          return admitted_.at(p.request)->encoded.pairs[p.index];
        },
        runner_->position_rule(), cache_ != nullptr, metrics_);
    if (!hopeless.empty()) {
      lock.unlock();
      for (const Ticket& r : hopeless) {
        complete(r, Error(Error::Kind::kTimeout,
                          "the request could not finish before its deadline; its remaining pairs were dropped"));
      }
      lock.lock();
    }
    if (!planned.pairs.empty()) return planned;
  }
}

void Scheduler::fail_pass(const PlannedPass& pass, const Error& error) {
  std::vector<Ticket> failed;
  {
    std::lock_guard lock(mutex_);
    policy_.pass_done(0, 0);  // a failed pass measures nothing
    for (const BatchPolicy::PairRef& p : pass.pairs) {
      const auto it = admitted_.find(p.request);
      if (it == admitted_.end()) continue;
      policy_.remove(p.request);
      if (it->second->claim()) failed.push_back(std::move(it->second));
      admitted_.erase(it);
    }
    queued_tokens_ = policy_.queued_tokens();
  }
  for (const Ticket& r : failed) complete(r, error);
}

void Scheduler::observe(const PlannedPass& pass, const PassOutcome& outcome) {
  const PackedBatch& batch = pass.batch;
  size_t longest = 0;
  for (size_t i = 0; i + 1 < batch.seq_starts.size(); ++i) {
    longest = std::max(longest, static_cast<size_t>(batch.seq_starts[i + 1] - batch.seq_starts[i]));
  }
  const auto tokens = static_cast<double>(batch.num_tokens());
  const auto sequences = static_cast<double>(batch.num_sequences());
  metrics_.batch_pairs.observe(sequences);
  metrics_.batch_tokens.observe(tokens);
  metrics_.padding.observe(1.0 - tokens / (static_cast<double>(longest) * sequences));
  metrics_.inference.observe(outcome.seconds);
  metrics_.tokens.inc(tokens);
  metrics_.pairs.inc(sequences);
}

void Scheduler::cache_scores(const PlannedPass& pass, const PassOutcome& outcome) {
  const PackedBatch& batch = pass.batch;
  for (size_t s = 0; s < batch.num_sequences(); ++s) {
    const auto begin = static_cast<size_t>(batch.seq_starts[s]);
    const auto end = static_cast<size_t>(batch.seq_starts[s + 1]);
    const std::span<const int32_t> types = batch.type_ids.empty()
                                               ? std::span<const int32_t>()
                                               : std::span<const int32_t>(batch.type_ids).subspan(begin, end - begin);
    const size_t evicted = cache_->insert(
        pair_identity(std::span<const int32_t>(batch.ids).subspan(begin, end - begin), types), outcome.logits[s]);
    metrics_.cache_evictions.inc(static_cast<double>(evicted));
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
  if (outcome.error) return fail_pass(pass, *outcome.error);
  observe(pass, outcome);
  if (cache_) cache_scores(pass, outcome);
  std::vector<Ticket> completed;
  {
    std::lock_guard lock(mutex_);
    policy_.pass_done(tokens, outcome.seconds);
    const uint64_t pass_number = ++passes_run_;
    for (size_t i = 0; i < pass.pairs.size(); ++i) {
      const auto it = admitted_.find(pass.pairs[i].request);
      if (it == admitted_.end()) continue;  // cancelled while the pass ran
      RequestState& r = *it->second;
      if (!r.first_run) metrics_.queue.observe(seconds_between(r.accepted, outcome.start));
      const float logit = outcome.logits[pass.sequence_of.empty() ? i : pass.sequence_of[i]];
      if (r.record(pass.pairs[i].index, logit, pass_number, outcome.start, outcome.seconds)) {
        if (r.claim()) completed.push_back(std::move(it->second));
        admitted_.erase(it);
      }
    }
  }
  for (const Ticket& r : completed) {
    complete(r, r->output());
  }
}

}  // namespace rerankd
