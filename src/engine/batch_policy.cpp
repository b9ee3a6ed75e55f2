#include "engine/batch_policy.h"

#include <algorithm>
#include <limits>

namespace rerankd {

namespace {
// Admission promises at most this share of the time left: the measured speed is of forward passes
// alone, while a request also waits for planning, tokenization of others and its HTTP answer, and
// the speed drifts. The drop check before each pass uses the full time (it must be sure).
constexpr double kHeadroom = 0.9;
// The drop check's allowance for the measured speed being low (next_pass).
constexpr double kDropSpeedMargin = 1.5;
// A tenant whose last request came this recently counts as active though its queue is empty: one
// that sends now and then keeps its share reserved, so the others' admitted work is predicted at
// the speed they will really have when it comes back.
constexpr double kActiveWindowSeconds = 60;
}  // namespace

BatchPolicy::BatchPolicy(const PolicyOptions& options)
    : options_(options),
      cost_(CostModelOptions{.max_tokens = static_cast<size_t>(std::max<int64_t>(options.limits.max_tokens, 1)),
                             .max_pass_seconds = options.max_pass_seconds}) {
  options_.limits.max_sequences = std::max<int64_t>(options_.limits.max_sequences, 1);
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
  for (const auto& [name, t] : tenants_) {
    for (const Entry& e : t.queue) ids.push_back(e.id);
  }
  return ids;
}

bool BatchPolicy::active(const Tenant& t, Clock::time_point now) const {
  return t.tokens > 0 ||
         seconds_between(t.last_seen, now) < std::min(kActiveWindowSeconds, options_.max_queue_seconds);
}

double BatchPolicy::share_of(const Tenant& t, Clock::time_point now) const {
  double active_weight = 0;
  for (const auto& [name, other] : tenants_) {
    if (&other == &t || active(other, now)) active_weight += other.weight;
  }
  return t.weight / active_weight;
}

void BatchPolicy::forget_idle(Clock::time_point now) {
  // A tenant with nothing queued that has not been seen for the window weighs nothing in the
  // shares (share_of asks active()); forgetting it keeps the table as small as the set of tenants
  // active lately (client addresses are unbounded). What it had served is then forgotten too,
  // which is what a tenant returning after idling gets anyway. Swept once a second, not on every
  // request: the sweep visits every tenant under the scheduler's mutex.
  if (seconds_between(last_sweep_, now) < 1) return;
  last_sweep_ = now;
  std::erase_if(tenants_, [&](const auto& item) { return !active(item.second, now); });
}

BatchPolicy::Tenant& BatchPolicy::tenant(std::string_view name, Clock::time_point now) {
  forget_idle(now);
  auto it = tenants_.find(name);
  if (it == tenants_.end()) {
    Tenant t;
    const auto weight = options_.tenant_weights.find(name);
    t.weight = weight != options_.tenant_weights.end() && weight->second > 0 ? weight->second : 1.0;
    it = tenants_.emplace(std::string(name), std::move(t)).first;
  }
  it->second.last_seen = now;
  return it->second;
}

BatchPolicy::Placement BatchPolicy::place(const Tenant& t, size_t tokens, Clock::time_point deadline,
                                          Clock::time_point now) const {
  // Shortest remaining work first, with hysteresis: a request goes ahead only of those with at
  // least twice its work left. Requests of similar size keep their arrival order, so one that is a
  // little bigger than the rest is not overtaken again and again by a stream of them.
  const std::vector<Entry>& queue = t.queue;
  const size_t n = queue.size();
  Placement p;
  while (p.at < n && queue[p.at].tokens < 2 * tokens) ++p.at;

  Admission& a = p.admission;
  a.share = share_of(t, now);
  const double rate = cost_.tokens_per_second();
  if (rate <= 0) return p;
  const double work = static_cast<double>(tokens) / rate;
  a.alone_seconds = work;
  if (work > kHeadroom * seconds_between(now, deadline)) {
    a.outcome = Admission::Outcome::kNeverInTime;
    return p;
  }
  // At the tenant's guaranteed speed: predicted finish of each of its queued requests, and the
  // least slack from each position to the end. The new request may only go where every request
  // behind it still keeps its deadline.
  const double tenant_rate = rate * a.share;
  const double own_work = static_cast<double>(tokens) / tenant_rate;
  std::vector<double> finish(n);
  std::vector<double> least_slack(n + 1, std::numeric_limits<double>::infinity());
  double end = in_flight_left(now);
  for (size_t i = 0; i < n; ++i) finish[i] = end += static_cast<double>(queue[i].tokens) / tenant_rate;
  for (size_t i = n; i-- > 0;) {
    least_slack[i] = std::min(least_slack[i + 1], kHeadroom * seconds_between(now, queue[i].keep) - finish[i]);
  }
  while (p.at < n && least_slack[p.at] < own_work) ++p.at;
  a.finish_seconds = (p.at == 0 ? in_flight_left(now) : finish[p.at - 1]) + own_work;
  const double limit = kHeadroom * std::min(seconds_between(now, deadline), options_.max_queue_seconds);
  if (a.finish_seconds > limit) {
    a.outcome = Admission::Outcome::kQueueFull;
    a.retry_after = a.finish_seconds - limit;
  }
  return p;
}

BatchPolicy::Admission BatchPolicy::screen(std::string_view tenant_name, size_t min_tokens, Clock::time_point deadline,
                                           Clock::time_point now) {
  return place(tenant(tenant_name, now), min_tokens, deadline, now).admission;
}

BatchPolicy::Admission BatchPolicy::admit(RequestId id, std::span<const size_t> lengths, Clock::time_point deadline,
                                          Clock::time_point now, std::string_view tenant_name) {
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

  Tenant& t = tenant(tenant_name, now);
  const Placement p = place(t, entry.tokens, deadline, now);
  if (p.admission.outcome != Admission::Outcome::kAdmitted) return p.admission;
  if (t.tokens == 0) {
    // Back from idle (or new): level with the least served of those with work, or with the most
    // served of all when none has, so that idling banks no credit and past service while alone
    // is no debt.
    double least_busy = std::numeric_limits<double>::infinity();
    double most = 0;
    for (const auto& [name, other] : tenants_) {
      if (other.tokens > 0) least_busy = std::min(least_busy, other.served);
      most = std::max(most, other.served);
    }
    t.served = std::max(t.served, least_busy != std::numeric_limits<double>::infinity() ? least_busy : most);
  }
  t.tokens += entry.tokens;
  queued_tokens_ += entry.tokens;
  t.queue.insert(t.queue.begin() + static_cast<std::ptrdiff_t>(p.at), std::move(entry));
  return p.admission;
}

size_t BatchPolicy::remove(RequestId id) {
  for (auto& [name, t] : tenants_) {
    const auto it = std::find_if(t.queue.begin(), t.queue.end(), [&](const Entry& e) { return e.id == id; });
    if (it == t.queue.end()) continue;
    const size_t dropped = it->pending.size();
    t.tokens -= it->tokens;
    queued_tokens_ -= it->tokens;
    t.queue.erase(it);
    return dropped;
  }
  return 0;
}

BatchPolicy::Pass BatchPolicy::next_pass(Clock::time_point now) {
  Pass pass;
  // Dropped only when it could not finish alone even at half again the measured speed: the speed
  // at the budget dips with a noisy neighbour or a slower pass, and admitted work must not be
  // dropped for a dip (a machine that really slows down much more is still caught).
  const double rate = kDropSpeedMargin * cost_.tokens_per_second();
  for (auto& [name, t] : tenants_) {
    std::erase_if(t.queue, [&](const Entry& e) {
      const double left = seconds_between(now, e.deadline);
      if (left > 0 && (rate <= 0 || static_cast<double>(e.tokens) / rate <= left)) return false;
      pass.hopeless.push_back(e.id);
      pass.hopeless_pairs += e.pending.size();
      t.tokens -= e.tokens;
      queued_tokens_ -= e.tokens;
      return true;
    });
  }

  const size_t budget = cost_.token_budget();
  const auto max_pairs = static_cast<size_t>(options_.limits.max_sequences);
  // Weighted fair queueing: the tenant with the least model time for its weight (counting what
  // this pass already gives it) fills the pass until it has had more than the next one; within a
  // tenant its queue's order; within a request longest first, and a pair that does not fit leaves
  // room for a shorter one.
  const auto fits = [&](size_t length) { return pass.pairs.empty() || pass.tokens + length <= budget; };
  const auto can_give = [&](const Tenant& t) {
    return std::any_of(t.queue.begin(), t.queue.end(),
                       [&](const Entry& e) { return !e.pending.empty() && fits(e.lengths[e.pending.back().index]); });
  };
  while (pass.pairs.size() < max_pairs && pass.tokens < budget) {
    Tenant* next = nullptr;
    double then = std::numeric_limits<double>::infinity();  // the least served of the others
    for (auto& [name, t] : tenants_) {
      if (t.tokens == 0 || !can_give(t)) continue;
      // On a tie (a tenant back from idle is levelled with the busy ones) the one with less
      // queued goes first: the quiet tenant's request, not the flood's next.
      if (next == nullptr || t.served < next->served || (t.served == next->served && t.tokens < next->tokens)) {
        if (next != nullptr) then = std::min(then, next->served);
        next = &t;
      } else {
        then = std::min(then, t.served);
      }
    }
    if (next == nullptr) break;
    bool turn_over = false;
    for (Entry& e : next->queue) {
      std::erase_if(e.pending, [&](const PairRef& p) {
        const size_t length = e.lengths[p.index];
        if (turn_over || pass.pairs.size() >= max_pairs || !fits(length)) return false;
        pass.pairs.push_back(p);
        pass.tokens += length;
        e.tokens -= length;
        next->tokens -= length;
        next->served += static_cast<double>(length) / next->weight;
        turn_over = next->served > then;
        return true;
      });
      if (turn_over) break;
    }
    std::erase_if(next->queue, [](const Entry& e) { return e.pending.empty(); });
  }
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
