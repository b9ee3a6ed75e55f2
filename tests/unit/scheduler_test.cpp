// The scheduler with a real (tiny/small) model: correct scores under concurrency, fairness between
// a big and a small request, admission control, deadlines, cancellation and drain; and with a fake
// backend on a virtual clock, how admission answers. Also built under ThreadSanitizer (see
// docs/development.md). The batching policy itself is tested in batch_policy_test.cpp.
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <thread>

#include "engine/scheduler.h"
#include "engine/token_estimate.h"
#include "test_data.h"
#include "virtual_clock.h"
#include "word_tokenizer.h"

namespace rerankd {
namespace {

// What a request's callback delivered. Declare Outcomes before the Scheduler: its threads may call
// them until it is destroyed, so they must outlive it (an early ASSERT return included).
struct Outcome {
  std::promise<RerankResult> promise;
  std::future<RerankResult> future = promise.get_future();
  std::atomic<int> calls{0};
  Clock::time_point finished_at;

  RerankCallback callback() {
    return [this](RerankResult r) {
      finished_at = Clock::now();
      if (calls.fetch_add(1) == 0) promise.set_value(std::move(r));
    };
  }
  RerankResult get() { return future.get(); }
  // Submits; a refusal that submit() throws at once is delivered as the callback would.
  void submit_to(Scheduler& scheduler, RerankInput in) {
    try {
      scheduler.submit(std::move(in), callback());
    } catch (const Error& e) {
      callback()(e);
    }
  }
};

std::unique_ptr<Reranker> load(const std::string& model) {
  RerankerOptions options;
  options.model_dir = testing::model_dir(model);
  options.dtype = "float32";  // expected scores come from the float64 reference
  return std::make_unique<Reranker>(options);
}

RerankInput input(std::string query, std::vector<std::string> documents) {
  RerankInput in;
  in.query = std::move(query);
  in.documents = std::move(documents);
  return in;
}

// These tests are about order, cancellation and drain, not admission: a queue bound no machine
// (a TSan build included) can reach, so that a slow one does not refuse their big requests.
SchedulerOptions roomy() {
  SchedulerOptions options;
  options.max_queue_seconds = 1e6;
  return options;
}

std::string long_text(int words) {
  std::string s;
  for (int i = 0; i < words; ++i) s += "The giant panda lives in the mountains of central China. ";
  return s;
}

TEST(Scheduler, ConcurrentRequestsGetReferenceScores) {
  const auto expected = testing::expected_pairs("tiny");
  auto reranker = load("tiny");
  MetricsRegistry metrics;
  Scheduler scheduler(*reranker, roomy(), &metrics);

  std::vector<std::unique_ptr<Outcome>> outcomes;
  std::vector<std::thread> clients;
  std::mutex m;
  for (size_t i = 0; i < expected.size(); ++i) outcomes.push_back(std::make_unique<Outcome>());
  for (size_t t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      for (size_t i = t; i < expected.size(); i += 4) {
        scheduler.submit(input(expected[i].query, {expected[i].document}), outcomes[i]->callback());
      }
    });
  }
  for (auto& c : clients) c.join();
  for (size_t i = 0; i < expected.size(); ++i) {
    auto result = outcomes[i]->get();
    ASSERT_TRUE(std::holds_alternative<RerankOutput>(result)) << std::get<Error>(result).what();
    EXPECT_NEAR(std::get<RerankOutput>(result).logits.at(0), expected[i].logit, 1e-4) << i;
    EXPECT_EQ(std::get<RerankOutput>(result).total_tokens, expected[i].ids.size());
  }
  EXPECT_TRUE(scheduler.wait_idle(Clock::now() + std::chrono::seconds(5)));
  EXPECT_NE(metrics.render().find("rerankd_pairs_processed_total"), std::string::npos);
}

// Each document's tokens and truncation mark, in input order: the reference's ids for a pair that
// fits, the model's whole window for one that was cut.
TEST(Scheduler, ReportsEachPairsTokensAndTruncation) {
  const auto expected = testing::expected_pairs("tiny");
  auto reranker = load("tiny");
  Scheduler scheduler(*reranker, roomy(), nullptr);
  Outcome outcome;
  scheduler.submit(input(expected[1].query, {long_text(200), expected[1].document}), outcome.callback());
  auto result = outcome.get();
  ASSERT_TRUE(std::holds_alternative<RerankOutput>(result)) << std::get<Error>(result).what();
  const RerankOutput& out = std::get<RerankOutput>(result);
  ASSERT_EQ(out.usage.size(), 2u);
  EXPECT_EQ(out.usage[0].tokens, reranker->max_length());
  EXPECT_TRUE(out.usage[0].truncated);
  EXPECT_EQ(out.usage[1].tokens, expected[1].ids.size());
  EXPECT_FALSE(out.usage[1].truncated);
  EXPECT_EQ(out.total_tokens, reranker->max_length() + expected[1].ids.size());
}

TEST(Scheduler, RefusesPastTheConcurrencyLimitAtOnce) {
  auto reranker = load("small");
  SchedulerOptions options = roomy();
  options.max_concurrent_requests = 2;
  Outcome a, b;
  Scheduler scheduler(*reranker, options, nullptr);
  scheduler.submit(input("q", std::vector<std::string>(200, long_text(20))), a.callback());
  scheduler.submit(input("q", std::vector<std::string>(200, long_text(20))), b.callback());
  try {
    scheduler.submit(input("q", {"d"}), [](RerankResult) {});
    FAIL() << "expected kOverloaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kOverloaded);
  }
  a.get();
  b.get();
}

TEST(Scheduler, RefusesPastTheQueuedTokenBudget) {
  auto reranker = load("small");
  SchedulerOptions options = roomy();
  options.max_queued_tokens = 6000;
  // One tokenizer thread admits in submission order, and small batches drain the first request
  // slowly, so the second arrives while most of the first is still queued: together they are over
  // the budget, each alone under it.
  options.tokenizer_threads = 1;
  options.batch.max_tokens = 256;
  Outcome first, second, huge;
  Scheduler scheduler(*reranker, options, nullptr);
  scheduler.submit(input("q", std::vector<std::string>(40, long_text(20))), first.callback());
  scheduler.submit(input("q", std::vector<std::string>(40, long_text(20))), second.callback());
  scheduler.submit(input("q", std::vector<std::string>(100, long_text(20))), huge.callback());
  ASSERT_TRUE(std::holds_alternative<RerankOutput>(first.get()));
  const auto r2 = second.get();
  ASSERT_TRUE(std::holds_alternative<Error>(r2));
  EXPECT_EQ(std::get<Error>(r2).kind(), Error::Kind::kOverloaded) << std::get<Error>(r2).what();
  auto r3 = huge.get();
  ASSERT_TRUE(std::holds_alternative<Error>(r3));
  EXPECT_EQ(std::get<Error>(r3).kind(), Error::Kind::kTooLarge);  // can never fit, so not "retry later"
}

TEST(Scheduler, ExpiredWorkNeverReachesTheModel) {
  auto reranker = load("small");
  MetricsRegistry metrics;
  SchedulerOptions options = roomy();
  options.batch.max_tokens = 1024;
  Outcome big, late;
  Scheduler scheduler(*reranker, options, &metrics);
  scheduler.submit(input("q", std::vector<std::string>(100, long_text(40))), big.callback());
  auto in = input("q", std::vector<std::string>(50, long_text(40)));
  in.deadline = Clock::now() - std::chrono::milliseconds(1);  // already past when it is submitted
  late.submit_to(scheduler, std::move(in));
  auto result = late.get();
  ASSERT_TRUE(std::holds_alternative<Error>(result));
  EXPECT_EQ(std::get<Error>(result).kind(), Error::Kind::kTimeout);
  ASSERT_TRUE(std::holds_alternative<RerankOutput>(big.get()));
  EXPECT_TRUE(scheduler.wait_idle(Clock::now() + std::chrono::seconds(10)));
  // Only the big request's 100 pairs ran.
  EXPECT_NE(metrics.render().find("rerankd_pairs_processed_total 100\n"), std::string::npos) << metrics.render();
}

// Two models in one server: one registry, each scheduler's series under its own model label.
TEST(Scheduler, MetricLabelsKeepTwoSchedulersApart) {
  auto first = load("tiny");
  auto second = load("tiny");
  MetricsRegistry metrics;
  SchedulerOptions a = roomy(), b = roomy();
  a.metric_labels = {{"model", "a"}};
  b.metric_labels = {{"model", "b"}};
  Scheduler sa(*first, a, &metrics);
  Scheduler sb(*second, b, &metrics);
  Outcome done;
  sb.submit(input("q", {"one", "two", "three"}), done.callback());
  ASSERT_TRUE(std::holds_alternative<RerankOutput>(done.get()));
  ASSERT_TRUE(sa.wait_idle(Clock::now() + std::chrono::seconds(10)));
  ASSERT_TRUE(sb.wait_idle(Clock::now() + std::chrono::seconds(10)));
  const std::string text = metrics.render();
  EXPECT_NE(text.find("rerankd_pairs_processed_total{model=\"b\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("rerankd_pairs_processed_total{model=\"a\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("rerankd_queue_requests{model=\"a\"} 0\n"), std::string::npos) << text;
}

TEST(Scheduler, CancelAnswersOnceWithTheReason) {
  auto reranker = load("small");
  Outcome big, gone;
  Scheduler scheduler(*reranker, roomy(), nullptr);
  scheduler.submit(input("q", std::vector<std::string>(200, long_text(40))), big.callback());
  auto ticket = scheduler.submit(input("q", std::vector<std::string>(200, long_text(40))), gone.callback());
  scheduler.cancel(ticket, Error(Error::Kind::kUnavailable, "client disconnected"));
  scheduler.cancel(ticket, Error(Error::Kind::kTimeout, "again"));
  auto result = gone.get();
  ASSERT_TRUE(std::holds_alternative<Error>(result));
  EXPECT_EQ(std::get<Error>(result).kind(), Error::Kind::kUnavailable);
  big.get();
  EXPECT_TRUE(scheduler.wait_idle(Clock::now() + std::chrono::seconds(30)));
  EXPECT_EQ(gone.calls.load(), 1);
  EXPECT_EQ(scheduler.queued_tokens(), 0u);
}

TEST(Scheduler, TooLongWithoutTruncationIsUnprocessable) {
  auto reranker = load("small");
  Outcome o;
  Scheduler scheduler(*reranker, roomy(), nullptr);
  auto in = input("q", {"short", long_text(100)});
  in.truncate = false;
  scheduler.submit(std::move(in), o.callback());
  auto result = o.get();
  ASSERT_TRUE(std::holds_alternative<Error>(result));
  EXPECT_EQ(std::get<Error>(result).kind(), Error::Kind::kUnprocessable);
  EXPECT_NE(std::string(std::get<Error>(result).what()).find("document 1"), std::string::npos);
}

TEST(Scheduler, DrainFinishesAdmittedWorkAndRefusesNew) {
  auto reranker = load("small");
  Outcome admitted;
  Scheduler scheduler(*reranker, roomy(), nullptr);
  scheduler.submit(input("q", std::vector<std::string>(100, long_text(20))), admitted.callback());
  scheduler.begin_drain();
  EXPECT_THROW(scheduler.submit(input("q", {"d"}), [](RerankResult) {}), Error);
  EXPECT_TRUE(scheduler.wait_idle(Clock::now() + std::chrono::seconds(30)));
  EXPECT_TRUE(std::holds_alternative<RerankOutput>(admitted.get()));
}

TEST(Scheduler, DestructionAnswersEveryPendingRequest) {
  auto reranker = load("small");
  std::vector<std::unique_ptr<Outcome>> outcomes;
  {
    Scheduler scheduler(*reranker, roomy(), nullptr);
    for (int i = 0; i < 5; ++i) {
      outcomes.push_back(std::make_unique<Outcome>());
      scheduler.submit(input("q", std::vector<std::string>(100, long_text(20))), outcomes.back()->callback());
    }
  }
  for (auto& o : outcomes) {
    const RerankResult r = o->get();  // scored before the shutdown, or refused by it
    if (std::holds_alternative<Error>(r)) {
      EXPECT_EQ(std::get<Error>(r).kind(), Error::Kind::kUnavailable);
    }
    EXPECT_EQ(o->calls.load(), 1);
  }
}

// A fake backend: each pass advances a virtual clock by 1 ms per token, so the scheduler measures
// exactly 1000 tokens/s whatever the machine.
using testing::VirtualClock;

// A one-document request that arrives while a 500-document one is running finishes within a few
// passes, not after the big one: counted in passes of a fake backend, not timed.
TEST(Scheduler, SmallRequestIsNotStarvedByABigOne) {
  auto reranker = load("small");  // its tokenizer
  VirtualClock clock;
  std::mutex mutex;
  std::condition_variable cv;
  size_t passes = 0;
  bool open = false;  // the first pass waits until the small request has been submitted
  auto forward = [&](const PackedBatch& batch) {
    {
      std::unique_lock lock(mutex);
      ++passes;
      cv.notify_all();
      cv.wait(lock, [&] { return open; });
    }
    clock.advance(static_cast<double>(batch.num_tokens()) / 1000);
    return std::vector<float>(batch.num_sequences(), 0.5f);
  };
  SchedulerOptions options = roomy();
  options.batch.max_tokens = 2048;
  options.warm_up = false;
  options.tokenizer_threads = 1;  // tokenization and admission in submission order
  Outcome big, small, marker;
  const RerankCallback done = small.callback();
  size_t passes_when_small_done = 0;
  Scheduler scheduler(reranker->tokenizer(), reranker->max_length(), forward, clock, options, nullptr);
  scheduler.submit(input("where do pandas live?", std::vector<std::string>(500, long_text(40))), big.callback());
  {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return passes >= 1; });  // the big one is running
  }
  scheduler.submit(input("where do pandas live?", {long_text(40)}), [&](RerankResult r) {
    {
      std::lock_guard lock(mutex);
      passes_when_small_done = passes;
    }
    done(std::move(r));
  });
  // A request the tokenizer refuses, submitted after the small one: its answer says the small
  // one has been tokenized and admitted, all while the first pass still runs.
  RerankInput refused = input("q", {long_text(200)});
  refused.truncate = false;
  scheduler.submit(std::move(refused), marker.callback());
  ASSERT_TRUE(std::holds_alternative<Error>(marker.get()));
  {
    std::lock_guard lock(mutex);
    open = true;
  }
  cv.notify_all();
  const RerankResult first = small.get();
  ASSERT_TRUE(std::holds_alternative<RerankOutput>(first)) << std::get<Error>(first).what();
  ASSERT_TRUE(std::holds_alternative<RerankOutput>(big.get()));
  std::printf("[ fairness ] 1-document request done after pass %zu of %zu\n", passes_when_small_done, passes);
  EXPECT_GT(passes, 100u);  // 500 pairs of 512 tokens in passes of at most 2048
  // It goes ahead of the big one's remaining pairs: the pass after the one that was running.
  EXPECT_LE(passes_when_small_done, 2u);
}

TEST(Scheduler, AdmissionAnswersFromTheMeasuredSpeedOfAFakeBackend) {
  auto reranker = load("tiny");
  VirtualClock clock;
  std::mutex gate;  // held by the test: the fake backend's pass stays "running" until released
  std::atomic<size_t> pairs_run{0};
  auto forward = [&](const PackedBatch& batch) {
    std::lock_guard hold(gate);
    clock.advance(static_cast<double>(batch.num_tokens()) / 1000);
    pairs_run += batch.num_sequences();
    return std::vector<float>(batch.num_sequences(), 0.5f);
  };
  SchedulerOptions options = roomy();
  options.tokenizer_threads = 1;  // admission in submission order
  options.max_queue_seconds = 1e6;  // only the deadlines bound the queue here
  Outcome big, late, hopeless, small;
  std::unique_lock hold(gate);
  Scheduler scheduler(reranker->tokenizer(), reranker->max_length(), forward, clock, options, nullptr);
  hold.unlock();
  ASSERT_TRUE(scheduler.wait_idle(Clock::now() + std::chrono::seconds(60)));  // the warm-up passes
  ASSERT_NEAR(scheduler.batching().tokens_per_second, 1000, 1);

  hold.lock();  // from here the virtual clock stands still unless a pass runs
  auto in = [&](double seconds) { return after_seconds(clock.now(), seconds); };
  auto with_deadline = [&](RerankInput i, double seconds) {
    i.deadline = in(seconds);
    return i;
  };
  // Deadlines in units of the big request's model time W (1 ms per token on this backend).
  const std::vector<std::string> docs(100, long_text(5));
  const double w = static_cast<double>(100 * reranker->encode("q", docs[0]).ids.size()) / 1000;
  scheduler.submit(with_deadline(input("q", docs), 3 * w), big.callback());  // admitted
  // One pair due in W / 2 goes ahead of the big request. (Submitted before the two below, so it
  // is admitted by the time they are answered: one tokenizer thread, in order.)
  scheduler.submit(with_deadline(input("q", {docs[0]}), w / 2), small.callback());
  // The same work due in 1.5 W cannot finish behind it (at 2 W, past the 90% of 1.5 W that
  // admission promises): 429 with when a retry could, 2 W - 1.35 W from now.
  scheduler.submit(with_deadline(input("q", docs), 1.5 * w), late.callback());
  // Due in W / 2, it cannot finish even alone: refused as such, not invited to retry.
  scheduler.submit(with_deadline(input("q", docs), w / 2), hopeless.callback());

  const RerankResult refused = late.get();
  ASSERT_TRUE(std::holds_alternative<Error>(refused));
  EXPECT_EQ(std::get<Error>(refused).kind(), Error::Kind::kOverloaded) << std::get<Error>(refused).what();
  EXPECT_NEAR(std::get<Error>(refused).retry_after_seconds(), 0.65 * w, w / 10);
  const RerankResult never = hopeless.get();
  ASSERT_TRUE(std::holds_alternative<Error>(never));
  EXPECT_EQ(std::get<Error>(never).kind(), Error::Kind::kTooLarge);
  EXPECT_NE(std::string(std::get<Error>(never).what()).find("even on an idle server"), std::string::npos);
  hold.unlock();
  const RerankResult first = small.get();
  ASSERT_TRUE(std::holds_alternative<RerankOutput>(first)) << std::get<Error>(first).what();
  ASSERT_TRUE(std::holds_alternative<RerankOutput>(big.get()));
  EXPECT_LT(small.finished_at, big.finished_at);
  EXPECT_EQ(pairs_run.load(), 2u + 101u);  // the warm-up pass twice, then only what was admitted
}

// A request whose documents need more than its deadline at the least they can cost is refused
// without tokenizing them: on a busy machine the whole tokenization can outlast the deadline.
TEST(Scheduler, HopelessRequestIsRefusedBeforeItsRestIsTokenized) {
  auto reranker = load("tiny");
  VirtualClock clock;
  auto forward = [&](const PackedBatch& batch) {
    clock.advance(static_cast<double>(batch.num_tokens()) / 1000);
    return std::vector<float>(batch.num_sequences(), 0.5f);
  };
  SchedulerOptions options = roomy();
  options.tokenizer_threads = 1;
  Scheduler scheduler(reranker->tokenizer(), reranker->max_length(), forward, clock, options, nullptr);
  ASSERT_TRUE(scheduler.wait_idle(Clock::now() + std::chrono::seconds(60)));  // the warm-up measures 1000 tokens/s
  std::vector<std::string> docs;
  for (int i = 0; i < 400; ++i) docs.push_back(long_text(5) + " " + std::to_string(i));
  const double sixteen = 16 * static_cast<double>(reranker->encode("q", docs[0]).ids.size()) / 1000;

  Outcome hopeless, fine;
  RerankInput in = input("q", docs);
  in.deadline = after_seconds(clock.now(), sixteen / 2);  // the first 16 documents need twice that
  hopeless.submit_to(scheduler, std::move(in));
  const RerankResult refused = hopeless.get();
  ASSERT_TRUE(std::holds_alternative<Error>(refused));
  EXPECT_EQ(std::get<Error>(refused).kind(), Error::Kind::kTooLarge);
  // Refused before any of it was tokenized: 400 pairs have at least their special tokens each.
  EXPECT_NE(std::string(std::get<Error>(refused).what()).find("even on an idle server"), std::string::npos)
      << std::get<Error>(refused).what();

  // With time for all of them, the same request runs.
  RerankInput roomy_in = input("q", docs);
  roomy_in.deadline = after_seconds(clock.now(), 1e4);
  scheduler.submit(std::move(roomy_in), fine.callback());
  ASSERT_TRUE(std::holds_alternative<RerankOutput>(fine.get()));
}

// --- Admission first, fair shares: a fake backend on a virtual clock and the word tokenizer ---

using testing::WordTokenizer;
using testing::words_doc;

// A fake model at 1000 tokens/s of virtual time whose passes wait while the test holds the gate:
// what the test submits meanwhile finds the queue as it left it.
struct GatedModel {
  VirtualClock clock;
  std::mutex gate;
  std::mutex log_mutex;
  std::vector<size_t> pass_tokens;

  ForwardFn forward() {
    return [this](const PackedBatch& batch) {
      std::lock_guard hold(gate);
      clock.advance(static_cast<double>(batch.num_tokens()) / 1000);
      std::lock_guard lock(log_mutex);
      pass_tokens.push_back(batch.num_tokens());
      return std::vector<float>(batch.num_sequences(), 0.5f);
    };
  }
};

SchedulerOptions gated_options() {
  SchedulerOptions options;
  options.tokenizer_threads = 1;       // encoding and admission in submission order
  options.max_queue_seconds = 10;      // 10 000 tokens of this model's time
  options.batch.max_tokens = 512;
  options.default_timeout_seconds = 1e6;
  return options;
}

RerankInput words_request(size_t documents, size_t words, std::string tenant, size_t tag = 0) {
  RerankInput in;
  in.query = "q";
  for (size_t i = 0; i < documents; ++i) in.documents.push_back(words_doc(words, tag * 1000 + i));
  in.tenant = std::move(tenant);
  return in;
}

// Fills `tenant`'s share of the queue with requests of `documents` x `words` until one is refused;
// returns how many were admitted (their outcomes are appended to `outcomes`). The model's gate is
// held, so nothing but admission changes the queue meanwhile.
size_t fill(Scheduler& scheduler, std::vector<std::unique_ptr<Outcome>>& outcomes, const std::string& tenant,
            size_t documents, size_t words) {
  for (size_t admitted = 0;; ++admitted) {
    auto outcome = std::make_unique<Outcome>();
    const size_t before = scheduler.queued_tokens();
    try {
      scheduler.submit(words_request(documents, words, tenant, 100 + outcomes.size()), outcome->callback());
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::kOverloaded) << e.what();
      return admitted;
    }
    // Encoded: either queued (the queue grew) or refused (answered).
    while (outcome->future.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready &&
           scheduler.queued_tokens() == before) {
    }
    if (outcome->future.wait_for(std::chrono::milliseconds(0)) == std::future_status::ready) {
      const RerankResult r = outcome->get();
      EXPECT_TRUE(std::holds_alternative<Error>(r));
      if (std::holds_alternative<Error>(r)) {
        EXPECT_EQ(std::get<Error>(r).kind(), Error::Kind::kOverloaded);
      }
      return admitted;
    }
    outcomes.push_back(std::move(outcome));
  }
}

// Runs one request of TokenEstimate::kWindow documents of 96 words, so that the encoder knows how
// many tokens a byte makes and admission can refuse on the least a request's bytes can cost.
// (A tenant seen lately keeps its share: the test says which one teaches.)
void teach_the_estimate(Scheduler& scheduler, const std::string& tenant) {
  Outcome outcome;
  scheduler.submit(words_request(TokenEstimate::kWindow, 96, tenant, 999), outcome.callback());
  ASSERT_TRUE(std::holds_alternative<RerankOutput>(outcome.get()));
}

// The Retry-After of a refusal with nothing better known is the admitted work at the measured
// speed, rounded up: 3 requests of 1010 tokens on a 1000 tokens/s model, so 4 s (never less than 1).
TEST(Scheduler, RetryAfterIsTheAdmittedWorkAtTheMeasuredSpeed) {
  WordTokenizer tokenizer;
  GatedModel model;
  Scheduler scheduler(tokenizer, 512, model.forward(), model.clock, gated_options(), nullptr);
  ASSERT_TRUE(scheduler.wait_idle(Clock::now() + std::chrono::seconds(60)));
  EXPECT_EQ(scheduler.retry_after_seconds(), 1);  // nothing queued: the floor
  std::unique_lock hold(model.gate);
  std::vector<std::unique_ptr<Outcome>> outcomes;
  for (size_t i = 0; i < 3; ++i) {
    outcomes.push_back(std::make_unique<Outcome>());
    scheduler.submit(words_request(10, 96, "", i), outcomes.back()->callback());  // 10 x 100 tokens
  }
  while (scheduler.in_flight_requests() != 3 || scheduler.queued_tokens() + 512 < 3000) std::this_thread::yield();
  // 3030 tokens admitted (10 pairs of 1 + 96 + 4), one budget-sized pass of them in flight: 3.03 s.
  EXPECT_EQ(scheduler.retry_after_seconds(), 4);
  hold.unlock();
  for (auto& o : outcomes) EXPECT_TRUE(std::holds_alternative<RerankOutput>(o->get()));
}

// Admission comes first: a request that the full queue refuses is refused before its body costs
// tokenization (screen(), as the server asks with the header alone), or after its first document.
TEST(Scheduler, ARefusedRequestIsNotTokenized) {
  WordTokenizer tokenizer;
  GatedModel model;
  Scheduler scheduler(tokenizer, 512, model.forward(), model.clock, gated_options(), nullptr);
  ASSERT_TRUE(scheduler.wait_idle(Clock::now() + std::chrono::seconds(60)));
  teach_the_estimate(scheduler, "");
  std::unique_lock hold(model.gate);
  std::vector<std::unique_ptr<Outcome>> admitted;
  // Requests of 2 pairs of 485 tokens: 9 fit in 90% of the 10 s queue, leaving 0.27 s of slack.
  const size_t n = fill(scheduler, admitted, "", 2, 480);
  EXPECT_EQ(n, 9u);
  const size_t encoded = tokenizer.documents_encoded.load();

  // The header alone: a body of 64 KiB is a pair of max_length tokens at the least (0.5 s), which
  // cannot go ahead of requests with 0.27 s of slack: refused without parsing or tokenizing.
  try {
    scheduler.screen("", 64 << 10, Clock::time_point::max());
    ADD_FAILURE() << "expected a refusal";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kOverloaded) << e.what();
    EXPECT_GT(e.retry_after_seconds(), 0);
  }
  // Parsed: 10 documents of 96 words are ~1000 tokens at the least.
  EXPECT_THROW(scheduler.submit(words_request(10, 96, "", 77), [](RerankResult) {}), Error);
  EXPECT_EQ(tokenizer.documents_encoded.load(), encoded);
  // A small one still fits in the slack, and is admitted ahead of them.
  admitted.push_back(std::make_unique<Outcome>());
  admitted.back()->submit_to(scheduler, words_request(1, 96, "", 78));
  hold.unlock();
  for (auto& o : admitted) EXPECT_TRUE(std::holds_alternative<RerankOutput>(o->get()));
}

// Before the encoder has learnt how many tokens a byte makes, the least a document costs is its
// special tokens; encoding then stops at the first document past which the request cannot fit.
TEST(Scheduler, ARefusalStopsEncodingWhereTheRequestNoLongerFits) {
  WordTokenizer tokenizer;
  GatedModel model;
  Scheduler scheduler(tokenizer, 512, model.forward(), model.clock, gated_options(), nullptr);
  ASSERT_TRUE(scheduler.wait_idle(Clock::now() + std::chrono::seconds(60)));
  std::unique_lock hold(model.gate);
  std::vector<std::unique_ptr<Outcome>> admitted;
  // Requests of 2 pairs of 485 tokens: 9 fit in 9 s, leaving ~0.27 s of slack, fewer pairs
  // learnt than the estimate needs.
  fill(scheduler, admitted, "", 2, 480);
  const size_t encoded = tokenizer.documents_encoded.load();
  Outcome refused;
  refused.submit_to(scheduler, words_request(30, 96, "", 99));  // 30 x 101 tokens; 30 x 4 at the least
  const RerankResult r = refused.get();
  ASSERT_TRUE(std::holds_alternative<Error>(r));
  EXPECT_EQ(std::get<Error>(r).kind(), Error::Kind::kOverloaded);
  const std::string message = std::get<Error>(r).what();
  const size_t done = tokenizer.documents_encoded.load() - encoded;
  EXPECT_GE(done, 1u);
  EXPECT_LE(done, 5u);
  EXPECT_NE(message.find("for its first " + std::to_string(done) + " of 30 documents"), std::string::npos) << message;
  hold.unlock();
  for (auto& o : admitted) EXPECT_TRUE(std::holds_alternative<RerankOutput>(o->get()));
}

// One tenant fills its share of the queue; another's request is still admitted, runs before the
// first tenant's backlog, and every request admitted for either finishes (none times out).
TEST(Scheduler, AQuietTenantIsServedWhileAnotherFloods) {
  WordTokenizer tokenizer;
  GatedModel model;
  SchedulerOptions options = gated_options();
  options.default_timeout_seconds = 12;  // deadlines 12 s of virtual time; the queue bound 10 s
  Scheduler scheduler(tokenizer, 512, model.forward(), model.clock, options, nullptr);
  ASSERT_TRUE(scheduler.wait_idle(Clock::now() + std::chrono::seconds(60)));
  teach_the_estimate(scheduler, "quiet");  // and so the quiet tenant was seen a moment ago
  std::unique_lock hold(model.gate);
  const auto deadline = after_seconds(model.clock.now(), 12);

  // The quiet tenant was seen a moment ago: its share is reserved while it is active.
  EXPECT_NO_THROW(scheduler.screen("quiet", 1, deadline));
  std::vector<std::unique_ptr<Outcome>> flood;
  const size_t n = fill(scheduler, flood, "flood", 10, 96);
  EXPECT_EQ(n, 4u) << "half of 90% of 10 s at 1000 tokens/s: 4 requests of 1000 tokens";
  EXPECT_THROW(scheduler.screen("flood", 64 << 10, deadline), Error);
  EXPECT_NO_THROW(scheduler.screen("quiet", 64 << 10, deadline));

  Outcome quiet;
  std::mutex order_mutex;
  std::vector<std::string> order;
  RerankInput in = words_request(10, 96, "quiet", 500);
  in.deadline = deadline;
  const RerankCallback quiet_done = quiet.callback();
  scheduler.submit(std::move(in), [&](RerankResult r) {
    {
      std::lock_guard lock(order_mutex);
      order.push_back("quiet");
    }
    quiet_done(std::move(r));
  });
  while (scheduler.in_flight_requests() != n + 1 || scheduler.queued_tokens() < 4000) std::this_thread::yield();
  hold.unlock();
  ASSERT_TRUE(std::holds_alternative<RerankOutput>(quiet.get()));
  size_t flood_done_before_quiet = 0;
  for (auto& o : flood) {
    const RerankResult r = o->get();
    ASSERT_TRUE(std::holds_alternative<RerankOutput>(r)) << std::get<Error>(r).what();
    if (o->finished_at < quiet.finished_at) ++flood_done_before_quiet;
  }
  // Pass by pass the two alternate, so the quiet request (1000 tokens) is done by the time the
  // flood's second request is: not after all four.
  EXPECT_LE(flood_done_before_quiet, 1u);
}

}  // namespace
}  // namespace rerankd
