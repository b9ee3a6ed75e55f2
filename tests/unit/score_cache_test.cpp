// The score cache: its LRU and byte bound alone; then in the scheduler on a fake backend and a
// virtual clock (a request whose pairs are all cached never reaches the queue, identical pairs of a
// request or a pass run once), and with the real tiny model, that a cached score is bit-identical
// to a fresh one, batched or alone.
#include <gtest/gtest.h>

#include <bit>
#include <condition_variable>
#include <future>

#include "engine/scheduler.h"
#include "tokenizer/xlmr_tokenizer.h"
#include "engine/score_cache.h"
#include "test_data.h"
#include "virtual_clock.h"

namespace rerankd {
namespace {

std::vector<int32_t> ids_of(int32_t first, size_t n) {
  std::vector<int32_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = first + static_cast<int32_t>(i);
  return ids;
}

TEST(ScoreCache, EvictsTheLeastRecentlyUsedWithinItsBytes) {
  const size_t entry = 10 * sizeof(int32_t) + ScoreCache::kEntryOverhead;
  ScoreCache cache(3 * entry);
  EXPECT_EQ(cache.insert(ids_of(0, 10), 0.f), 0u);
  EXPECT_EQ(cache.insert(ids_of(100, 10), 1.f), 0u);
  EXPECT_EQ(cache.insert(ids_of(200, 10), 2.f), 0u);
  EXPECT_EQ(cache.find(ids_of(0, 10)), 0.f);  // now the most recent: 100 is the oldest
  EXPECT_EQ(cache.insert(ids_of(300, 10), 3.f), 1u);
  EXPECT_FALSE(cache.find(ids_of(100, 10)));
  EXPECT_EQ(cache.find(ids_of(200, 10)), 2.f);
  EXPECT_EQ(cache.find(ids_of(300, 10)), 3.f);
  EXPECT_FALSE(cache.find(ids_of(0, 9)));  // a prefix is another pair
  const ScoreCache::Stats s = cache.stats();
  EXPECT_EQ(s.entries, 3u);
  EXPECT_EQ(s.bytes, 3 * entry);
  EXPECT_EQ(s.hits, 3u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(cache.insert(ids_of(0, 1000), 9.f), 0u);  // larger than the whole bound: not kept
  EXPECT_FALSE(cache.find(ids_of(0, 1000)));
}

struct Outcome {
  std::promise<RerankResult> promise;
  std::future<RerankResult> future = promise.get_future();
  RerankCallback callback() {
    return [this](RerankResult r) { promise.set_value(std::move(r)); };
  }
  RerankOutput output() {
    RerankResult r = future.get();
    if (const Error* e = std::get_if<Error>(&r)) ADD_FAILURE() << e->what();
    return std::get<RerankOutput>(std::move(r));
  }
};

using testing::VirtualClock;

// A backend whose logit is a function of the ids, that counts what it runs and can be held.
struct FakeBackend {
  VirtualClock clock;
  std::mutex gate;
  std::atomic<size_t> sequences{0};
  std::mutex entered_mutex;
  std::condition_variable entered_cv;
  int entered = 0;  // passes that reached the backend

  void wait_entered(int n) {
    std::unique_lock lock(entered_mutex);
    entered_cv.wait(lock, [&] { return entered >= n; });
  }
  ForwardFn forward() {
    return [this](const PackedBatch& batch) {
      {
        std::lock_guard lock(entered_mutex);
        ++entered;
      }
      entered_cv.notify_all();
      std::lock_guard hold(gate);
      clock.advance(static_cast<double>(batch.num_tokens()) / 1000);
      sequences += batch.num_sequences();
      std::vector<float> out;
      for (size_t s = 0; s < batch.num_sequences(); ++s) {
        uint64_t h = 0;  // unsigned: the hash wraps (UBSan)
        for (int32_t i = batch.seq_starts[s]; i < batch.seq_starts[s + 1]; ++i) {
          h = h * 31 + static_cast<uint64_t>(batch.ids[i]);
        }
        out.push_back(static_cast<float>(h % 1000) / 100.f);
      }
      return out;
    };
  }
};

SchedulerOptions cached_options() {
  SchedulerOptions o;
  o.warm_up = false;
  o.max_queue_seconds = 1e6;
  o.tokenizer_threads = 1;  // admission in submission order
  o.score_cache_bytes = 1 << 20;
  return o;
}

RerankInput input(std::string query, std::vector<std::string> documents) {
  RerankInput in;
  in.query = std::move(query);
  in.documents = std::move(documents);
  return in;
}

class SchedulerCache : public ::testing::Test {
 protected:
  SchedulerCache() : tokenizer_(testing::model_dir("tiny") / "sentencepiece.bpe.model") {}
  XlmrTokenizer tokenizer_;
  FakeBackend backend_;
};

TEST_F(SchedulerCache, RepeatedPairsRunOnceAndAllCachedRequestsSkipTheQueue) {
  MetricsRegistry metrics;
  Scheduler scheduler(tokenizer_, 64, backend_.forward(), backend_.clock, cached_options(), &metrics);
  Outcome first;
  scheduler.submit(input("panda", {"bamboo", "forest", "bamboo", "forest", "river"}), first.callback());
  const RerankOutput a = first.output();
  EXPECT_EQ(backend_.sequences.load(), 3u);  // three distinct pairs
  EXPECT_EQ(a.logits[0], a.logits[2]);
  EXPECT_EQ(a.logits[1], a.logits[3]);
  EXPECT_EQ(a.cached_pairs, 0u);

  // The model is held from here: a request that needed it would never be answered.
  std::lock_guard hold(backend_.gate);
  Outcome again;
  scheduler.submit(input("panda", {"river", "bamboo"}), again.callback());
  const RerankOutput b = again.output();
  EXPECT_EQ(std::bit_cast<uint32_t>(b.logits[0]), std::bit_cast<uint32_t>(a.logits[4]));
  EXPECT_EQ(std::bit_cast<uint32_t>(b.logits[1]), std::bit_cast<uint32_t>(a.logits[0]));
  EXPECT_EQ(b.cached_pairs, 2u);
  EXPECT_EQ(b.queue_seconds, 0);
  EXPECT_EQ(backend_.sequences.load(), 3u);
  const auto stats = scheduler.cache_stats();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->entries, 3u);
  EXPECT_EQ(stats->hits, 2u);
  EXPECT_EQ(stats->misses, 3u);
  const std::string text = metrics.render();
  EXPECT_NE(text.find("rerankd_score_cache_lookups_total{result=\"hit\"} 2"), std::string::npos) << text;
  EXPECT_NE(text.find("rerankd_shared_pairs_total 2"), std::string::npos) << text;
}

TEST_F(SchedulerCache, IdenticalPairsOfTwoRequestsInOnePassRunOnce) {
  Scheduler scheduler(tokenizer_, 64, backend_.forward(), backend_.clock, cached_options(), nullptr);
  std::unique_lock hold(backend_.gate);
  Outcome blocker, a, b, marker;
  scheduler.submit(input("q", {"the pass that holds the model"}), blocker.callback());
  backend_.wait_entered(1);  // the blocker's pass runs (and waits at the gate) before a and b are queued
  scheduler.submit(input("panda", {"bamboo", "leaves"}), a.callback());
  scheduler.submit(input("panda", {"bamboo", "shoots"}), b.callback());
  // Refused at tokenization, after a and b (one tokenizer thread): once it is answered both are queued.
  RerankInput refused = input("q", {std::string(2000, 'x') + " y"});
  refused.truncate = false;
  scheduler.submit(std::move(refused), marker.callback());
  ASSERT_TRUE(std::holds_alternative<Error>(marker.future.get()));
  hold.unlock();
  const RerankOutput ra = a.output(), rb = b.output();
  blocker.output();
  EXPECT_EQ(ra.logits[0], rb.logits[0]);
  EXPECT_EQ(backend_.sequences.load(), 1u + 3u);  // the blocker, then bamboo once, leaves, shoots
}

TEST(SchedulerCacheModel, CachedScoresAreBitIdenticalToFreshOnesBatchedOrAlone) {
  RerankerOptions ro;
  ro.model_dir = testing::model_dir("tiny");
  ro.dtype = "float32";
  Reranker reranker(ro);
  const std::string query = "where do giant pandas live?";
  const std::string doc = "The giant panda lives in the mountains of central China.";
  std::vector<std::string> batch;
  for (int i = 0; i < 24; ++i) batch.push_back("document number " + std::to_string(i) + std::string(i * 3, '!'));
  batch.insert(batch.begin() + 7, doc);

  auto run = [&](Scheduler& s, std::vector<std::string> docs) {
    Outcome o;
    s.submit(input(query, std::move(docs)), o.callback());
    return o.output();
  };
  SchedulerOptions fresh_options;
  fresh_options.warm_up = false;
  fresh_options.max_queue_seconds = 1e6;
  float alone = 0;
  {  // one scheduler on the model at a time
    Scheduler fresh(reranker, fresh_options, nullptr);
    alone = run(fresh, {doc}).logits[0];
    const float batched = run(fresh, batch).logits[7];
    ASSERT_EQ(std::bit_cast<uint32_t>(alone), std::bit_cast<uint32_t>(batched)) << "the backend is not batch-invariant";
  }

  SchedulerOptions cached = fresh_options;
  cached.score_cache_bytes = 1 << 20;
  Scheduler with_cache(reranker, cached, nullptr);
  const RerankOutput first = run(with_cache, batch);  // scored in a batch, then cached
  const RerankOutput second = run(with_cache, {doc});
  EXPECT_EQ(second.cached_pairs, 1u);
  EXPECT_EQ(std::bit_cast<uint32_t>(first.logits[7]), std::bit_cast<uint32_t>(alone));
  EXPECT_EQ(std::bit_cast<uint32_t>(second.logits[0]), std::bit_cast<uint32_t>(alone));
}

}  // namespace
}  // namespace rerankd
