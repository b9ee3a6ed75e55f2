// The backend worker's pipelining, with a fake asynchronous runner whose passes finish only when
// the test opens their gate, and a virtual clock the test advances: which passes are in flight
// together, the order they are handed back, failures, and what each pass's time measures. Also
// built under ThreadSanitizer. No sleeps: every wait is on a condition.
#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <stdexcept>

#include "engine/backend_worker.h"
#include "engine/scheduler.h"
#include "test_data.h"
#include "virtual_clock.h"

namespace rerankd {
namespace {

using testing::VirtualClock;

PlannedPass pass_of(int32_t tag, size_t tokens = 3) {
  PlannedPass p;
  p.batch.add(std::vector<int32_t>(tokens, tag));
  return p;
}

// Passes queued by the test; pass_done records the outcomes in order.
class FakeSource final : public PassSource {
 public:
  void push(PlannedPass p) {
    {
      std::lock_guard lock(m_);
      queue_.push_back(std::move(p));
    }
    cv_.notify_all();
  }
  void stop() {
    {
      std::lock_guard lock(m_);
      stopping_ = true;
    }
    cv_.notify_all();
  }
  std::optional<PlannedPass> next_pass(Wait wait) override {
    std::unique_lock lock(m_);
    if (wait == Wait::kBlock) cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_ || queue_.empty()) return std::nullopt;
    PlannedPass p = std::move(queue_.front());
    queue_.pop_front();
    return p;
  }
  void pass_done(PlannedPass& pass, PassOutcome outcome) override {
    {
      std::lock_guard lock(m_);
      done_tags_.push_back(pass.batch.ids.at(0));
      outcomes_.push_back(std::move(outcome));
    }
    cv_.notify_all();
  }
  // Blocks until `n` passes are done; returns them.
  std::vector<PassOutcome> wait_done(size_t n) {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return outcomes_.size() >= n; });
    return outcomes_;
  }
  std::vector<int32_t> done_tags() {
    std::lock_guard lock(m_);
    return done_tags_;
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<PlannedPass> queue_;
  bool stopping_ = false;
  std::vector<PassOutcome> outcomes_;
  std::vector<int32_t> done_tags_;
};

// A device-like runner: begin() returns at once, finish() waits for the test to open the oldest
// pass's gate and returns one logit per sequence, the pass's tag. A tag of -1 fails in begin(), -2
// in finish().
class GatedRunner final : public PassRunner {
 public:
  explicit GatedRunner(int depth) : depth_(depth) {}
  int depth() const override { return depth_; }
  void begin(const PackedBatch& batch) override {
    std::lock_guard lock(m_);
    ++begun_;
    max_in_flight_ = std::max(max_in_flight_, begun_ - finished_);
    cv_.notify_all();
    const int32_t tag = batch.ids.at(0);
    if (tag == -1) {
      --begun_;  // never started
      throw std::runtime_error("begin failed");
    }
    tags_.push_back(tag);
  }
  std::vector<float> finish() override {
    std::unique_lock lock(m_);
    cv_.wait(lock, [this] { return opened_ > finished_; });
    const int32_t tag = tags_.front();
    tags_.pop_front();
    ++finished_;
    if (tag == -2) throw Error(Error::Kind::kUnavailable, "device lost");  // a backend's own Kind
    return {static_cast<float>(tag)};
  }
  void open() {
    {
      std::lock_guard lock(m_);
      ++opened_;
    }
    cv_.notify_all();
  }
  void wait_begun(int n) {
    std::unique_lock lock(m_);
    cv_.wait(lock, [&] { return begun_ >= n; });
  }
  int max_in_flight() {
    std::lock_guard lock(m_);
    return max_in_flight_;
  }

 private:
  const int depth_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<int32_t> tags_;
  int begun_ = 0, finished_ = 0, opened_ = 0, max_in_flight_ = 0;
};

// Declared in this order so the worker (constructed last) is joined first.
struct Rig {
  explicit Rig(int depth) : runner(depth) {}
  ~Rig() { source.stop(); }
  VirtualClock clock;
  FakeSource source;
  GatedRunner runner;
};

TEST(BackendWorker, BeginsTheNextPassWhileOneRunsAndHandsThemBackInOrder) {
  Rig rig(2);
  for (int32_t tag = 1; tag <= 3; ++tag) rig.source.push(pass_of(tag));
  {
    BackendWorker worker(rig.source, rig.runner, rig.clock);
    rig.runner.wait_begun(2);  // pass 2 began while pass 1 is still running
    EXPECT_TRUE(rig.source.done_tags().empty());
    rig.runner.open();
    rig.runner.wait_begun(3);  // a slot came free: pass 3 begins before pass 2 is finished
    rig.runner.open();
    rig.runner.open();
    const std::vector<PassOutcome> done = rig.source.wait_done(3);
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_FALSE(done[i].error.has_value());
      EXPECT_EQ(done[i].logits, std::vector<float>{static_cast<float>(i + 1)});
    }
    rig.source.stop();
  }
  EXPECT_EQ(rig.source.done_tags(), (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(rig.runner.max_in_flight(), 2);
}

// A pass's seconds run from when it had the device to itself (its begin, or the end of the one
// before it) to when its logits were back: overlapped time is not counted twice.
TEST(BackendWorker, TimesEachPassFromTheEndOfTheOneBefore) {
  Rig rig(2);
  rig.source.push(pass_of(1));
  rig.source.push(pass_of(2));
  const Clock::time_point t0 = rig.clock.now();
  BackendWorker worker(rig.source, rig.runner, rig.clock);
  rig.runner.wait_begun(2);  // both begun at t0
  rig.clock.advance(0.3);
  rig.runner.open();
  rig.source.wait_done(1);
  // The worker, with nothing queued, must not wait for work while pass 2 runs.
  rig.clock.advance(0.2);
  rig.runner.open();
  const std::vector<PassOutcome> done = rig.source.wait_done(2);
  EXPECT_EQ(done[0].start, t0);
  EXPECT_NEAR(done[0].seconds, 0.3, 1e-9);
  EXPECT_EQ(done[1].start, t0 + std::chrono::milliseconds(300));
  EXPECT_NEAR(done[1].seconds, 0.2, 1e-9);
  rig.source.stop();
}

// One at a time, a pass is timed from its own begin, as before overlap existed.
TEST(BackendWorker, DepthOneRunsOnePassAtATime) {
  Rig rig(1);
  rig.source.push(pass_of(1));
  rig.source.push(pass_of(2));
  BackendWorker worker(rig.source, rig.runner, rig.clock);
  rig.runner.wait_begun(1);
  rig.clock.advance(0.5);
  rig.runner.open();
  rig.runner.wait_begun(2);
  rig.clock.advance(0.25);
  const Clock::time_point begun2 = rig.clock.now() - std::chrono::milliseconds(250);
  rig.runner.open();
  const std::vector<PassOutcome> done = rig.source.wait_done(2);
  EXPECT_NEAR(done[0].seconds, 0.5, 1e-9);
  EXPECT_EQ(done[1].start, begun2);
  EXPECT_NEAR(done[1].seconds, 0.25, 1e-9);
  EXPECT_EQ(rig.runner.max_in_flight(), 1);
  rig.source.stop();
}

TEST(BackendWorker, AFailedPassFailsAloneAndKeepsItsPlace) {
  Rig rig(2);
  rig.source.push(pass_of(1));
  rig.source.push(pass_of(-1));  // begin throws while pass 1 runs
  rig.source.push(pass_of(-2));  // finish throws
  rig.source.push(pass_of(4));
  BackendWorker worker(rig.source, rig.runner, rig.clock);
  for (int i = 0; i < 3; ++i) rig.runner.open();  // passes 1, -2 and 4 reach finish(); -1 never does
  const std::vector<PassOutcome> done = rig.source.wait_done(4);
  EXPECT_EQ(rig.source.done_tags(), (std::vector<int32_t>{1, -1, -2, 4}));
  EXPECT_EQ(done[0].logits, std::vector<float>{1.f});
  // A std::exception is a bug below (kInternal); a backend's Error keeps its Kind for the client.
  ASSERT_TRUE(done[1].error.has_value());
  EXPECT_EQ(done[1].error->kind(), Error::Kind::kInternal);
  EXPECT_STREQ(done[1].error->what(), "model: begin failed");
  EXPECT_TRUE(done[1].logits.empty());
  ASSERT_TRUE(done[2].error.has_value());
  EXPECT_EQ(done[2].error->kind(), Error::Kind::kUnavailable);
  EXPECT_STREQ(done[2].error->what(), "device lost");
  EXPECT_FALSE(done[3].error.has_value());
  EXPECT_EQ(done[3].logits, std::vector<float>{4.f});
  rig.source.stop();
}

// Stopping with a pass in flight: it is finished and handed back before the worker ends.
TEST(BackendWorker, StopFinishesThePassesInFlight) {
  Rig rig(2);
  rig.source.push(pass_of(1));
  auto worker = std::make_unique<BackendWorker>(rig.source, rig.runner, rig.clock);
  rig.runner.wait_begun(1);
  rig.source.stop();
  rig.runner.open();
  worker.reset();
  EXPECT_EQ(rig.source.done_tags(), std::vector<int32_t>{1});
}

// The synchronous runner, for backends that compute as they are called: one pass, in begin().
TEST(BackendWorker, SyncRunnerComputesInBegin) {
  int calls = 0;
  SyncPassRunner runner([&](const PackedBatch& b) {
    ++calls;
    return std::vector<float>(b.num_sequences(), 7.f);
  });
  EXPECT_EQ(runner.depth(), 1);
  runner.begin(pass_of(1).batch);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(runner.finish(), std::vector<float>{7.f});
}

// A device-like fake for the whole scheduler: begin() queues, finish() computes the oldest pass,
// advancing the virtual clock 1 ms per token (and a second more the first time), and scores each
// sequence with its length.
class QueuedRunner final : public PassRunner {
 public:
  explicit QueuedRunner(VirtualClock& clock) : clock_(clock) {}
  int depth() const override { return 2; }
  void begin(const PackedBatch& batch) override {
    queued_.push_back(batch);
    if (queued_.size() > max_in_flight) max_in_flight = queued_.size();
  }
  std::vector<float> finish() override {
    const PackedBatch batch = std::move(queued_.front());
    queued_.pop_front();
    // The first pass pays a second of one-time set-up, as a device's first pass does.
    clock_.advance(static_cast<double>(batch.num_tokens()) / 1000 + (passes_++ == 0 ? 1 : 0));
    std::vector<float> logits;
    for (size_t s = 0; s < batch.num_sequences(); ++s) {
      logits.push_back(static_cast<float>(batch.seq_starts[s + 1] - batch.seq_starts[s]));
    }
    return logits;
  }
  std::atomic<size_t> max_in_flight{0};

 private:
  VirtualClock& clock_;
  std::deque<PackedBatch> queued_;  // the worker thread's alone
  int passes_ = 0;
};

// Through the scheduler: both warm-up passes are in flight together, yet the cost model learns the
// fake device's true 1000 tokens/s (each pass timed from the end of the one before, and the
// second warm-up measured, not the first); every document gets its own pair's score.
TEST(BackendWorker, SchedulerWithOverlappedPassesMeasuresTheDevice) {
  RerankerOptions model;
  model.model_dir = testing::model_dir("tiny");  // its tokenizer
  model.dtype = "float32";
  auto reranker = std::make_unique<Reranker>(model);
  VirtualClock clock;
  auto owned = std::make_unique<QueuedRunner>(clock);
  QueuedRunner& runner = *owned;
  SchedulerOptions options;
  options.max_queue_seconds = 1e6;
  options.batch.max_tokens = 64;  // many passes
  options.score_cache_bytes = 0;
  std::promise<RerankResult> result;
  {
    Scheduler scheduler(reranker->tokenizer(), reranker->max_length(), std::move(owned), clock, options, nullptr);
    ASSERT_TRUE(scheduler.wait_idle(Clock::now() + std::chrono::seconds(60)));
    EXPECT_EQ(runner.max_in_flight.load(), 2u);
    EXPECT_NEAR(scheduler.batching().tokens_per_second, 1000, 1);
    RerankInput in;
    in.query = "where do pandas live?";
    std::string text;
    for (int i = 0; i < 12; ++i) in.documents.push_back(text += " bamboo");
    scheduler.submit(std::move(in), [&](RerankResult r) { result.set_value(std::move(r)); });
    const RerankResult r = result.get_future().get();
    ASSERT_TRUE(std::holds_alternative<RerankOutput>(r)) << std::get<Error>(r).what();
    const RerankOutput& out = std::get<RerankOutput>(r);
    for (size_t d = 0; d < out.logits.size(); ++d) EXPECT_EQ(out.logits[d], static_cast<float>(out.usage[d].tokens)) << d;
    // Its passes ran back to back on the fake device: their summed time is its tokens at 1000/s.
    EXPECT_NEAR(out.inference_seconds, static_cast<double>(out.total_tokens) / 1000, 1e-6);
  }
}

}  // namespace
}  // namespace rerankd
