// The batching policy, driven deterministically: a fake backend whose forward time follows a given
// curve of (tokens, pairs), and a virtual clock that the simulation advances by exactly that time.
// No threads, no sleeps, no wall-clock thresholds.
#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>

#include "engine/batch_policy.h"

namespace rerankd {
namespace {

using Id = BatchPolicy::RequestId;
using Outcome = BatchPolicy::Admission::Outcome;
using Curve = std::function<double(size_t tokens, size_t pairs)>;

// A GPU-like device: a pass costs a fixed 20 ms until 2000 tokens fill it, then grows linearly.
double gpu_like(size_t tokens, size_t) { return std::max(0.020, static_cast<double>(tokens) / 100000); }
// A CPU-like one: linear in tokens from the start, with a small per-pass and per-pair overhead.
double cpu_like(size_t tokens, size_t pairs) {
  return 0.001 + 0.0001 * static_cast<double>(pairs) + static_cast<double>(tokens) / 1000;
}

constexpr double kNever = std::numeric_limits<double>::infinity();

struct Simulation {
  explicit Simulation(PolicyOptions options, Curve c) : policy(options), curve(std::move(c)) {}

  BatchPolicy policy;
  Curve curve;
  Clock::time_point now = Clock::time_point{} + std::chrono::hours(1);
  std::map<Id, size_t> unscored;
  std::map<Id, double> completed_at;  // seconds since the start
  std::set<Id> hopeless;
  std::vector<BatchPolicy::Pass> passes;  // what reached the fake backend

  double elapsed() const { return seconds_between(Clock::time_point{} + std::chrono::hours(1), now); }
  Clock::time_point in(double seconds) const { return seconds == kNever ? Clock::time_point::max() : after_seconds(now, seconds); }

  Outcome admit(Id id, size_t pairs, size_t tokens_each, double deadline_seconds = kNever,
               const std::string& tenant = {}) {
    const std::vector<size_t> lengths(pairs, tokens_each);
    const Outcome o = policy.admit(id, lengths, in(deadline_seconds), now, tenant).outcome;
    if (o == Outcome::kAdmitted) {
      unscored[id] = pairs;
      tenant_of[id] = tenant;
    }
    return o;
  }
  // Tokens each tenant had run in passes [from, to).
  std::map<std::string, size_t> tokens_by_tenant(size_t from = 0, size_t to = SIZE_MAX) const {
    std::map<std::string, size_t> tokens;
    for (size_t i = from; i < std::min(to, passes.size()); ++i) {
      for (const auto& p : passes[i].pairs) tokens[tenant_of.at(p.request)] += pair_tokens;
    }
    return tokens;
  }
  std::map<Id, std::string> tenant_of;
  size_t pair_tokens = 100;  // what tokens_by_tenant counts per pair: the tests' pairs are all alike
  // One pass on the fake backend; false when there was nothing to run.
  bool step() {
    BatchPolicy::Pass pass = policy.next_pass(now);
    hopeless.insert(pass.hopeless.begin(), pass.hopeless.end());
    if (pass.pairs.empty()) return false;
    const double seconds = curve(pass.tokens, pass.pairs.size());
    now = after_seconds(now, seconds);
    policy.pass_done(pass.tokens, seconds);
    for (const auto& p : pass.pairs) {
      if (--unscored[p.request] == 0) completed_at[p.request] = elapsed();
    }
    passes.push_back(std::move(pass));
    return true;
  }
  void run(size_t max_passes = 100000) {
    while (max_passes-- > 0 && step()) {
    }
  }
  bool ran_any_pair_of(Id id, size_t from_pass = 0) const {
    for (size_t i = from_pass; i < passes.size(); ++i) {
      for (const auto& p : passes[i].pairs) {
        if (p.request == id) return true;
      }
    }
    return false;
  }
};

PolicyOptions options(double max_queue_seconds = kNever, size_t max_tokens = 65536, double max_pass_seconds = 3) {
  return {.limits = {.max_tokens = static_cast<int64_t>(max_tokens), .max_sequences = 1024, .max_sequence_length = 512},
          .max_pass_seconds = max_pass_seconds,
          .max_queue_seconds = max_queue_seconds,
          .tenant_weights = {}};
}

// --- batch size from measurement ---------------------------------------------------------------

TEST(BatchPolicy, StartsSmallAndGrowsToTheKneeOfAGpuLikeCurve) {
  Simulation sim(options(), gpu_like);
  sim.admit(1, 20000, 100);
  EXPECT_LE(sim.policy.cost().token_budget(), 128u);  // no data: start small
  sim.run(200);
  // 2000 tokens (20 pairs) are the smallest pass that reaches the best throughput.
  EXPECT_EQ(sim.policy.cost().token_budget(), 2048u);
  EXPECT_FALSE(sim.policy.cost().exploring());
  EXPECT_EQ(sim.passes.back().pairs.size(), 20u);
  EXPECT_NEAR(sim.policy.cost().tokens_per_second(), 100000, 1000);
}

TEST(BatchPolicy, FlatCpuLikeCurveGivesSmallBatches) {
  Simulation sim(options(), cpu_like);
  sim.admit(1, 2000, 100);
  sim.run(100);
  EXPECT_LE(sim.policy.cost().token_budget(), 256u);
  EXPECT_FALSE(sim.policy.cost().exploring());
  EXPECT_LE(sim.passes.back().pairs.size(), 2u);
}

TEST(BatchPolicy, BudgetKeepsUnderTheUpperBoundAndTheLatencyCap) {
  Simulation bounded(options(kNever, 1024), gpu_like);
  bounded.admit(1, 5000, 100);
  bounded.run(100);
  EXPECT_LE(bounded.policy.cost().token_budget(), 1024u);
  for (const auto& p : bounded.passes) EXPECT_LE(p.tokens, 1024u);

  // A device that never flattens: only the latency cap (0.5 s a pass) stops the growth.
  Simulation capped(options(kNever, 65536, 0.5), [](size_t tokens, size_t) {
    return 0.5 / (1 + static_cast<double>(tokens) / 100) * static_cast<double>(tokens) / 100;
  });
  capped.admit(1, 5000, 100);
  capped.run(200);
  for (const auto& p : capped.passes) EXPECT_LE(capped.curve(p.tokens, p.pairs.size()), 0.5);
}

TEST(BatchPolicy, OneBatchOfLengthGroupedPairsServesOfflineScoring) {
  Simulation sim(options(), cpu_like);
  const std::vector<size_t> lengths{10, 50, 30, 40, 20};
  sim.policy.admit(7, lengths, Clock::time_point::max(), sim.now);
  const BatchPolicy::Pass first = sim.policy.next_pass(sim.now);
  ASSERT_FALSE(first.pairs.empty());
  EXPECT_EQ(first.pairs[0].index, 1u);  // the longest pair first
  size_t seen = first.pairs.size();
  sim.policy.pass_done(first.tokens, 0.1);
  while (sim.policy.has_work()) {
    const auto pass = sim.policy.next_pass(sim.now);
    seen += pass.pairs.size();
    sim.policy.pass_done(pass.tokens, 0.1);
  }
  EXPECT_EQ(seen, lengths.size());
}

// A device backend queues the next pass while one runs: both count in the work ahead, the second
// starting where the first ends.
TEST(BatchPolicy, PassesInFlightTogetherRunOneAfterAnother) {
  Simulation sim(options(), cpu_like);
  sim.admit(1, 400, 100);
  sim.run(5);  // measured
  const BatchPolicy::Pass a = sim.policy.next_pass(sim.now);
  const BatchPolicy::Pass b = sim.policy.next_pass(sim.now);
  ASSERT_FALSE(a.pairs.empty());
  ASSERT_FALSE(b.pairs.empty());
  const ForwardCostModel& cost = sim.policy.cost();
  const double ta = cost.seconds_for(a.tokens), tb = cost.seconds_for(b.tokens);
  EXPECT_NEAR(sim.policy.queued_seconds(sim.now), ta + tb + cost.seconds_for(sim.policy.queued_tokens()), 1e-9);
  sim.now = after_seconds(sim.now, ta / 2);
  EXPECT_NEAR(sim.policy.queued_seconds(sim.now), ta / 2 + tb + cost.seconds_for(sim.policy.queued_tokens()), 1e-6);
  // a took twice its prediction: b starts when a ends, not when it was planned.
  sim.now = after_seconds(sim.now, ta * 3 / 2);
  sim.policy.pass_done(a.tokens, 2 * ta);
  EXPECT_NEAR(sim.policy.queued_seconds(sim.now), tb + cost.seconds_for(sim.policy.queued_tokens()), 1e-6);
  sim.now = after_seconds(sim.now, tb);
  sim.policy.pass_done(b.tokens, tb);
  EXPECT_NEAR(sim.policy.queued_seconds(sim.now), cost.seconds_for(sim.policy.queued_tokens()), 1e-6);
}

// --- completion order --------------------------------------------------------------------------

TEST(BatchPolicy, SmallRequestBehindABigOneIsAnsweredFirst) {
  Simulation sim(options(), cpu_like);
  sim.admit(1, 500, 100);
  sim.run(3);  // the big one is running
  sim.admit(2, 1, 100);
  sim.run();
  ASSERT_TRUE(sim.completed_at.count(1) && sim.completed_at.count(2));
  EXPECT_LT(sim.completed_at[2], sim.completed_at[1]);
  EXPECT_LT(sim.completed_at[2] * 10, sim.completed_at[1]);
}

TEST(BatchPolicy, RequestsCompleteOneAfterAnotherNotAllTogether) {
  Simulation sim(options(), cpu_like);
  for (Id id = 1; id <= 4; ++id) sim.admit(id, 20, 100);
  sim.run();
  // No pair of a request runs before the pass that finishes the one ahead of it.
  auto first_pass = [&](Id id) {
    for (size_t i = 0; i < sim.passes.size(); ++i) {
      for (const auto& p : sim.passes[i].pairs) {
        if (p.request == id) return i;
      }
    }
    return sim.passes.size();
  };
  auto last_pass = [&](Id id) {
    size_t last = 0;
    for (size_t i = 0; i < sim.passes.size(); ++i) {
      for (const auto& p : sim.passes[i].pairs) {
        if (p.request == id) last = i;
      }
    }
    return last;
  };
  for (Id id = 1; id < 4; ++id) {
    EXPECT_GE(first_pass(id + 1), last_pass(id)) << id;
    EXPECT_LT(sim.completed_at[id], sim.completed_at[id + 1]);
  }
  EXPECT_LT(sim.completed_at[1] * 3, sim.completed_at[4]);
}

TEST(BatchPolicy, AgingBoundKeepsABigRequestFromWaitingForever) {
  // Without a deadline of its own, the big request is still not postponed past admission + the
  // queue bound by the small ones that keep arriving (each would go first by remaining work).
  Simulation sim(options(/*max_queue_seconds=*/10), cpu_like);
  sim.policy.record(100, cpu_like(100, 1));
  ASSERT_EQ(sim.admit(1, 50, 100), Outcome::kAdmitted);  // ~5 s of work
  Id next = 2;
  while (!sim.completed_at.count(1) && sim.elapsed() < 100) {
    sim.admit(next++, 1, 100, 30);  // a small request for every pass: enough to starve it
    sim.admit(next++, 1, 100, 30);
    sim.step();
  }
  ASSERT_TRUE(sim.completed_at.count(1));
  EXPECT_LE(sim.completed_at[1], 10 + cpu_like(256, 2));
  EXPECT_GT(sim.completed_at.size(), 10u);  // and small ones were served meanwhile
}

// --- deadline-aware admission ------------------------------------------------------------------

TEST(BatchPolicy, AdmissionRefusesWhatCannotMakeItsDeadlineAndAdmitsWhatCan) {
  Simulation sim(options(/*max_queue_seconds=*/30), cpu_like);
  sim.policy.record(100, 0.1);  // 1000 tokens/s
  ASSERT_EQ(sim.admit(1, 40, 100, 30), Outcome::kAdmitted);  // 4 s of work
  ASSERT_EQ(sim.admit(2, 40, 100, 30), Outcome::kAdmitted);  // done at ~8 s
  // Same size, due in 10 s: behind the 8 s ahead of it it would finish at ~12 s, past the 9 s
  // that admission promises of 10 (90%: headroom for what the forward time does not count).
  const std::vector<size_t> forty(40, 100);
  const auto refused = sim.policy.admit(3, forty, sim.in(10), sim.now);
  EXPECT_EQ(refused.outcome, Outcome::kQueueFull);
  EXPECT_NEAR(refused.finish_seconds, 12, 0.5);
  EXPECT_NEAR(refused.retry_after, 3, 0.5);  // when it could: once 3 s of the queue have run
  // With 15 s it makes it.
  EXPECT_EQ(sim.admit(4, 40, 100, 15), Outcome::kAdmitted);
  // A small one goes first and still makes a tight deadline.
  EXPECT_EQ(sim.admit(5, 1, 100, 0.5), Outcome::kAdmitted);
  EXPECT_EQ(sim.policy.order().front(), 5u);
  sim.run();
  EXPECT_TRUE(sim.hopeless.empty());
  EXPECT_EQ(sim.completed_at.size(), 4u);
  EXPECT_LE(sim.completed_at[5], 0.5);
  EXPECT_LE(sim.completed_at[4], 15);
}

TEST(BatchPolicy, AdmittedRequestsKeepTheirDeadlinesWhenASmallerOneArrives) {
  Simulation sim(options(30), cpu_like);
  sim.policy.record(100, 0.1);
  ASSERT_EQ(sim.admit(1, 40, 100, 4.6), Outcome::kAdmitted);  // 4 s of work, 0.14 s of slack (of 90%)
  // Ahead of it, a 1 s request would make it miss: it goes behind instead.
  ASSERT_EQ(sim.admit(2, 10, 100, 30), Outcome::kAdmitted);
  EXPECT_EQ(sim.policy.order(), (std::vector<Id>{1, 2}));
  // One that fits in the slack still goes first.
  ASSERT_EQ(sim.admit(3, 1, 100, 30), Outcome::kAdmitted);
  EXPECT_EQ(sim.policy.order(), (std::vector<Id>{3, 1, 2}));
  sim.run();
  EXPECT_TRUE(sim.hopeless.empty());
  EXPECT_LE(sim.completed_at[1], 4.6);
}

TEST(BatchPolicy, QueueIsBoundedInSecondsOfWork) {
  Simulation sim(options(/*max_queue_seconds=*/5), cpu_like);
  sim.policy.record(100, 0.1);
  ASSERT_EQ(sim.admit(1, 40, 100), Outcome::kAdmitted);  // 4 s, no deadline of its own
  EXPECT_EQ(sim.admit(2, 20, 100), Outcome::kQueueFull);  // would end at 6 s > 5 s of queue
  EXPECT_EQ(sim.admit(3, 3, 100), Outcome::kAdmitted);
}

TEST(BatchPolicy, TooSlowEvenOnAnIdleServerIsNotAQueueRefusal) {
  Simulation sim(options(30), cpu_like);
  sim.policy.record(100, 0.1);
  const std::vector<size_t> lengths(100, 100);  // 10 s of work
  const auto a = sim.policy.admit(1, lengths, sim.in(5), sim.now);
  EXPECT_EQ(a.outcome, Outcome::kNeverInTime);
  EXPECT_NEAR(a.alone_seconds, 10, 0.1);
  EXPECT_FALSE(sim.policy.has_work());
}

TEST(BatchPolicy, WithoutAMeasurementEverythingIsAdmitted) {
  Simulation sim(options(1), cpu_like);
  EXPECT_EQ(sim.admit(1, 1000, 100, 0.001), Outcome::kAdmitted);
}

// --- no wasted work ----------------------------------------------------------------------------

TEST(BatchPolicy, CancelledAndExpiredWorkNeverReachesTheBackend) {
  Simulation sim(options(30), cpu_like);
  sim.admit(1, 20, 100);
  sim.admit(2, 30, 100);
  sim.admit(3, 40, 100, 0.5);  // admitted blind (nothing measured), due long before its turn
  EXPECT_EQ(sim.policy.remove(2), 30u);
  sim.run();
  EXPECT_FALSE(sim.ran_any_pair_of(2));
  EXPECT_FALSE(sim.ran_any_pair_of(3));
  EXPECT_TRUE(sim.hopeless.count(3));
  EXPECT_EQ(sim.policy.queued_tokens(), 0u);
}

TEST(BatchPolicy, APartlyScoredRequestThatWillMissItsDeadlineStopsUsingTheModel) {
  bool slow = false;
  Simulation sim(options(30), [&](size_t tokens, size_t pairs) { return (slow ? 20 : 1) * cpu_like(tokens, pairs); });
  sim.policy.record(100, cpu_like(100, 1));
  ASSERT_EQ(sim.admit(1, 50, 100, 8), Outcome::kAdmitted);  // ~5 s of 8
  sim.run(10);
  slow = true;  // the machine turns 20x slower: the rest cannot make it any more
  sim.run(5);
  const size_t seen = sim.passes.size();
  sim.run();
  EXPECT_TRUE(sim.hopeless.count(1));
  EXPECT_FALSE(sim.completed_at.count(1));
  EXPECT_FALSE(sim.ran_any_pair_of(1, seen));
  EXPECT_LT(sim.passes.size(), 50u);
}

// --- fair shares between tenants ------------------------------------------------------------------

TEST(BatchPolicy, FairSharesFollowTheWeights) {
  PolicyOptions o = options();
  o.tenant_weights = {{"gold", 2.0}};  // "free" weighs 1
  Simulation sim(o, cpu_like);
  sim.policy.record(400, cpu_like(400, 4));
  for (Id i = 0; i < 30; ++i) {
    ASSERT_EQ(sim.admit(1 + i, 10, 100, kNever, "gold"), Outcome::kAdmitted);
    ASSERT_EQ(sim.admit(101 + i, 10, 100, kNever, "free"), Outcome::kAdmitted);
  }
  sim.run(60);
  const auto tokens = sim.tokens_by_tenant(10);  // past the budget's first doublings
  const double ratio = static_cast<double>(tokens.at("gold")) / static_cast<double>(tokens.at("free"));
  std::printf("[ shares ] gold:free model time %.3f (weights 2:1)\n", ratio);
  EXPECT_NEAR(ratio, 2.0, 0.2);
}

// One tenant admits until its share of the queue is full; another (seen a moment before) still
// gets its request in, served first, and every admitted request of both keeps its deadline.
TEST(BatchPolicy, AFloodingTenantCannotTakeAnothersShare) {
  Simulation sim(options(/*max_queue_seconds=*/10), cpu_like);
  sim.policy.record(400, cpu_like(400, 4));  // ~1000 tokens/s: a request of 10 pairs x 100 tokens takes 1 s
  ASSERT_EQ(sim.policy.screen("quiet", 0, sim.in(12), sim.now).outcome, Outcome::kAdmitted);  // active now
  Id id = 1;
  size_t flood = 0;
  while (sim.admit(id, 10, 100, 12, "flood") == Outcome::kAdmitted) ++flood, ++id;
  // At half the model's speed, 90% of the 10 s queue bound holds ~4.5 s of the flood's work.
  EXPECT_GE(flood, 3u);
  EXPECT_LE(flood, 4u);
  EXPECT_EQ(sim.policy.screen("flood", 1000, sim.in(12), sim.now).outcome, Outcome::kQueueFull);
  // The quiet tenant's 1 s request, due in 3 s: predicted at its share (2 s), admitted.
  ASSERT_EQ(sim.admit(500, 10, 100, 3, "quiet"), Outcome::kAdmitted);
  sim.run();
  EXPECT_TRUE(sim.hopeless.empty());
  ASSERT_EQ(sim.completed_at.size(), flood + 1);
  EXPECT_LE(sim.completed_at[500], 2.2);  // alternating passes: about twice its own work
  for (Id f = 1; f < id; ++f) EXPECT_LE(sim.completed_at[f], 12) << f;
}

// A tenant that was idle does not bank the time it did not use: when it comes back it shares
// from then on, rather than taking the model for as long as the other had it.
TEST(BatchPolicy, AnIdleTenantBanksNoCredit) {
  Simulation sim(options(), cpu_like);
  sim.policy.record(400, cpu_like(400, 4));
  for (Id i = 0; i < 200; ++i) ASSERT_EQ(sim.admit(1 + i, 10, 100, kNever, "busy"), Outcome::kAdmitted);
  sim.run(100);
  for (Id i = 0; i < 200; ++i) ASSERT_EQ(sim.admit(1001 + i, 10, 100, kNever, "back"), Outcome::kAdmitted);
  const size_t from = sim.passes.size();
  sim.run(40);
  const auto tokens = sim.tokens_by_tenant(from);
  const double back = static_cast<double>(tokens.at("back")) / static_cast<double>(tokens.at("back") + tokens.at("busy"));
  EXPECT_NEAR(back, 0.5, 0.1);
}

// screen() may refuse a request before it is tokenized only if admit() would refuse it whatever
// its size: checked on random queues, deadlines and sizes.
TEST(BatchPolicy, AScreenRefusalIsAlwaysAnAdmissionRefusal) {
  std::mt19937 random(7);
  size_t refusals = 0;
  for (int round = 0; round < 200; ++round) {
    Simulation sim(options(/*max_queue_seconds=*/8), cpu_like);
    sim.policy.record(400, cpu_like(400, 4));
    const char* tenants[] = {"a", "b", "c"};
    for (Id i = 1; i <= 1 + random() % 12; ++i) {
      sim.admit(i, 1 + random() % 40, 20 + random() % 200, 1 + random() % 20, tenants[random() % 3]);
    }
    sim.run(random() % 4);
    const std::string tenant = tenants[random() % 3];
    const double deadline = 0.5 + static_cast<double>(random() % 100) / 10;
    const size_t least = random() % 3000;
    if (sim.policy.screen(tenant, least, sim.in(deadline), sim.now).outcome == Outcome::kAdmitted) continue;
    ++refusals;
    std::vector<size_t> lengths;
    for (size_t total = 0; total < least + 1 + random() % 2000;) total += lengths.emplace_back(1 + random() % 300);
    EXPECT_NE(sim.policy.admit(999, lengths, sim.in(deadline), sim.now, tenant).outcome, Outcome::kAdmitted)
        << "round " << round;
  }
  EXPECT_GT(refusals, 20u);  // the check above ran often enough to mean something
}

}  // namespace
}  // namespace rerankd
