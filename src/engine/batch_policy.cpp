#include "engine/batch_policy.h"

#include <algorithm>
#include <limits>

namespace rerankd {

namespace {
// Admission promises at most this share of the time left: the measured speed is of forward passes
// alone, while a request also waits for planning, tokenization of others and its HTTP answer, and
// the speed drifts. The drop check before each pass uses the full time (it must be sure).
constexpr double kHeadroom = 0.9;
}  // namespace

BatchPolicy::BatchPolicy(const PolicyOptions& options)
    : options_(options),
      cost_(CostModelOptions{.max_tokens = options.limits.max_tokens, .max_pass_seconds = options.max_pass_seconds}) {
  options_.limits.max_pairs = std::max<size_t>(options_.limits.max_pairs, 1);
}

double BatchPolicy::in_flight_left(Clock::time_point now) const {
  // Each pass starts when it was planned or when the one before it ends, whichever is later.
  double end = seconds_between(now, last_end_);  // from now
  for (const InFlight& f : in_flight_) end = std::max(end, seconds_between(now, f.planned)) + f.predicted;
  return std::max(0.0, end);
}

double BatchPolicy::queued_seconds(Clock::time_point now) const {
  return in_flight_left(now) + cost_.seconds_for(queued_tokens_);
}

std::vector<BatchPolicy::RequestId> BatchPolicy::order() const {
  std::vector<RequestId> ids;
  for (const Entry& e : queue_) ids.push_back(e.id);
  return ids;
}

std::optional<double> BatchPolicy::never_in_time(size_t tokens, Clock::time_point deadline,
                                                Clock::time_point now) const {
  const double rate = cost_.tokens_per_second();
  if (rate <= 0) return std::nullopt;
  const double work = static_cast<double>(tokens) / rate;
  if (work > kHeadroom * seconds_between(now, deadline)) return work;
  return std::nullopt;
}

BatchPolicy::Admission BatchPolicy::admit(RequestId id, std::span<const size_t> lengths, Clock::time_point deadline,
                                          Clock::time_point now) {
  Entry entry;
  entry.id = id;
  entry.lengths.assign(lengths.begin(), lengths.end());
  entry.deadline = deadline;
  entry.keep = std::min(deadline, after_seconds(now, options_.max_queue_seconds));
  for (size_t i = 0; i < lengths.size(); ++i) {
    entry.pending.push_back({id, i});
    entry.tokens += lengths[i];
  }
  std::stable_sort(entry.pending.begin(), entry.pending.end(),
                   [&](const PairRef& a, const PairRef& b) { return lengths[a.index] > lengths[b.index]; });

  // Shortest remaining work first, with hysteresis: a request goes ahead only of those with at
  // least twice its work left. Requests of similar size keep their arrival order, so one that is a
  // little bigger than the rest is not overtaken again and again by a stream of them.
  const size_t n = queue_.size();
  size_t at = 0;
  while (at < n && queue_[at].tokens < 2 * entry.tokens) ++at;

  Admission a;
  const double rate = cost_.tokens_per_second();
  if (rate > 0) {
    const double work = static_cast<double>(entry.tokens) / rate;
    const double left = seconds_between(now, deadline);
    a.alone_seconds = work;
    if (never_in_time(entry.tokens, deadline, now)) {
      a.outcome = Admission::Outcome::kNeverInTime;
      return a;
    }
    // Predicted finish of each queued request, and the least slack from each position to the end:
    // the new request may only go where every request behind it still keeps its deadline.
    std::vector<double> finish(n);
    std::vector<double> least_slack(n + 1, std::numeric_limits<double>::infinity());
    double t = in_flight_left(now);
    for (size_t i = 0; i < n; ++i) finish[i] = t += static_cast<double>(queue_[i].tokens) / rate;
    for (size_t i = n; i-- > 0;) {
      least_slack[i] = std::min(least_slack[i + 1], kHeadroom * seconds_between(now, queue_[i].keep) - finish[i]);
    }
    while (at < n && least_slack[at] < work) ++at;
    a.finish_seconds = (at == 0 ? in_flight_left(now) : finish[at - 1]) + work;
    const double limit = kHeadroom * std::min(left, options_.max_queue_seconds);
    if (a.finish_seconds > limit) {
      a.outcome = Admission::Outcome::kQueueFull;
      a.retry_after = a.finish_seconds - limit;
      return a;
    }
  }
  queued_tokens_ += entry.tokens;
  queue_.insert(queue_.begin() + static_cast<std::ptrdiff_t>(at), std::move(entry));
  return a;
}

size_t BatchPolicy::remove(RequestId id) {
  const auto it = std::find_if(queue_.begin(), queue_.end(), [&](const Entry& e) { return e.id == id; });
  if (it == queue_.end()) return 0;
  const size_t dropped = it->pending.size();
  queued_tokens_ -= it->tokens;
  queue_.erase(it);
  return dropped;
}

BatchPolicy::Pass BatchPolicy::next_pass(Clock::time_point now) {
  Pass pass;
  const double rate = cost_.tokens_per_second();
  std::erase_if(queue_, [&](const Entry& e) {
    const double left = seconds_between(now, e.deadline);
    if (left > 0 && (rate <= 0 || static_cast<double>(e.tokens) / rate <= left)) return false;
    pass.hopeless.push_back(e.id);
    pass.hopeless_pairs += e.pending.size();
    queued_tokens_ -= e.tokens;
    return true;
  });

  const size_t budget = cost_.token_budget();
  const size_t max_pairs = options_.limits.max_pairs;
  auto full = [&] { return pass.pairs.size() >= max_pairs || pass.tokens >= budget; };
  for (Entry& e : queue_) {
    if (full()) break;
    // Longest first; a pair that does not fit leaves room for a shorter one.
    std::erase_if(e.pending, [&](const PairRef& p) {
      const size_t length = e.lengths[p.index];
      if (pass.pairs.size() >= max_pairs || (!pass.pairs.empty() && pass.tokens + length > budget)) return false;
      pass.pairs.push_back(p);
      pass.tokens += length;
      e.tokens -= length;
      return true;
    });
  }
  std::erase_if(queue_, [](const Entry& e) { return e.pending.empty(); });
  queued_tokens_ -= pass.tokens;
  if (!pass.pairs.empty()) in_flight_.push_back({now, cost_.seconds_for(pass.tokens)});
  return pass;
}

void BatchPolicy::pass_done(size_t tokens, double seconds) {
  if (!in_flight_.empty()) {
    last_end_ = after_seconds(std::max(in_flight_.front().planned, last_end_), seconds);
    in_flight_.pop_front();
  }
  cost_.record(tokens, seconds);
}

}  // namespace rerankd
