// The client against the real `rerankd serve` on 127.0.0.1 (tiny test model): the three request
// shapes, connection reuse seen from the server's own counter, 429 with Retry-After under
// overload, validation errors with the server's message, deadlines, and a replica that stops
// mid-run.
#include <gtest/gtest.h>

#include <utility>

#include <atomic>
#include <boost/asio/use_future.hpp>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

#include "client/rerank_client.h"
#include "retry_waits.h"
#include "server_process.h"

namespace rerankd::client {
namespace {

using rerankd::testing::ServerProcess;
using rerankd::testing::RetryWaits;
using rerankd::testing::SharedServerTest;
using std::chrono::milliseconds;

const std::vector<std::string> kTexts = {
    "Paris is the capital and largest city of France.",
    "The giant panda is a bear species endemic to China.",
    "Bamboo makes up almost all of the giant panda's diet.",
    "Photosynthesis converts light energy into chemical energy.",
};

// The value of the server's accepted-connections counter (rerankd_*accepted*) in /metrics.
double accepted_connections(const std::string& metrics) {
  std::istringstream lines(metrics);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("rerankd_", 0) == 0 && line.find("accepted") != std::string::npos) {
      return std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  ADD_FAILURE() << "no rerankd_*accepted* counter in /metrics";
  return -1;
}

std::string long_text(size_t words) {
  std::string out;
  for (size_t i = 0; i < words; ++i) out += (i % 7 == 0 ? "panda " : "bamboo forest mountain river ");
  return out;
}

// Threads that make `call` over and over until stopped (at the latest when destroyed), counting
// its outcomes. The test waits for what it needs to have happened (so many answers, an endpoint
// seen failing) rather than sleeping for "long enough"; real processes are involved, so each wait
// has a deadline, and missing it fails the test.
class Load {
 public:
  Load(int threads, std::function<void()> call) : call_(std::move(call)) {
    for (int t = 0; t < threads; ++t) threads_.emplace_back([this] { run(); });
  }
  ~Load() { stop(); }
  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;

  void stop() {
    stop_ = true;
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

  // Re-checks `done(ok, failed)` after every outcome; false when `timeout` passes first.
  bool wait_for(const std::function<bool(int ok, int failed)>& done, std::chrono::seconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return done(ok_, failed_); });
  }

  int ok() const {
    std::lock_guard lock(mutex_);
    return ok_;
  }
  int failed() const {
    std::lock_guard lock(mutex_);
    return failed_;
  }
  std::string first_failure() const {
    std::lock_guard lock(mutex_);
    return first_failure_;
  }

 private:
  void run() {
    while (!stop_) {
      std::string failure;
      try {
        call_();
      } catch (const Error& e) {
        failure = e.what();
        if (failure.empty()) failure = "(an error without a message)";
      }
      {
        std::lock_guard lock(mutex_);
        if (failure.empty()) {
          ++ok_;
        } else {
          ++failed_;
          if (first_failure_.empty()) first_failure_ = failure;
        }
      }
      changed_.notify_all();
    }
  }

  std::function<void()> call_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  int ok_ = 0, failed_ = 0;
  std::string first_failure_;
  std::vector<std::thread> threads_;
};

constexpr std::chrono::seconds kLoadWait{60};

class ClientServer : public SharedServerTest {};

TEST_F(ClientServer, ThreeShapesAgree) {
  RerankClient client({.urls = {server_->url()}});
  const RerankResponse ranked = client.rerank({.query = "what do pandas eat?", .texts = kTexts, .return_text = true});
  const ScoreResponse scores = client.score({.query = "what do pandas eat?", .documents = kTexts});
  const RerankV1Response v1 = client.rerank_v1(
      {.query = "what do pandas eat?", .documents = kTexts, .top_n = 2, .return_documents = true, .model = "m"});

  ASSERT_EQ(ranked.size(), kTexts.size());
  ASSERT_EQ(scores.size(), kTexts.size());
  ASSERT_EQ(v1.results.size(), 2u);
  for (size_t k = 0; k < ranked.size(); ++k) {
    EXPECT_NEAR(ranked[k].score, scores[ranked[k].index], 1e-6);  // same model, same numbers
    EXPECT_EQ(ranked[k].text, kTexts[ranked[k].index]);
    if (k > 0) {
      EXPECT_GE(ranked[k - 1].score, ranked[k].score);
    }
    EXPECT_GT(ranked[k].score, 0.0);
    EXPECT_LT(ranked[k].score, 1.0);
  }
  for (size_t k = 0; k < 2; ++k) {
    EXPECT_EQ(v1.results[k].index, ranked[k].index);
    EXPECT_NEAR(v1.results[k].relevance_score, ranked[k].score, 1e-6);
    EXPECT_EQ(v1.results[k].document, kTexts[v1.results[k].index]);
  }
  EXPECT_GT(v1.total_tokens, 0u);
  EXPECT_FALSE(v1.id.empty());
}

TEST_F(ClientServer, ValidationErrorsSurfaceAtOnceWithTheServersMessage) {
  RerankClient client({.urls = {server_->url()}});
  try {
    client.rerank({.query = "q", .texts = {}});
    ADD_FAILURE() << "no error";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status(), 400u);
    EXPECT_EQ(e.kind(), Error::Kind::kInvalidInput);
    EXPECT_EQ(e.error_type(), "validation");
    EXPECT_NE(e.server_message().find("\"texts\""), std::string::npos) << e.server_message();
    EXPECT_NE(std::string(e.what()).find(e.server_message()), std::string::npos);
  }
  try {
    client.post("/rerank", R"({"query": "q", "texts": "not an array"})");
    ADD_FAILURE() << "no error";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status(), 422u);
    EXPECT_EQ(e.kind(), Error::Kind::kUnprocessable);
  }
  EXPECT_EQ(client.stats().retries, 0u);
}

TEST_F(ClientServer, DeadlinesFire) {
  RerankClient client({.urls = {server_->url()}});
  // Work far beyond the deadline on any machine: 512 long pairs (with 64 of them this whole test
  // took ~15 ms on 2 cores, against the 2 ms allowed).
  std::vector<std::string> many(512, long_text(120));
  RerankRequest request{.query = "panda", .texts = many};
  request.call.timeout = milliseconds(2);
  try {
    client.rerank(request);
    ADD_FAILURE() << "a 512-document request answered within 2 ms";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kTimeout) << e.what();  // ours, or the server's 504
  }
  // The server is fine afterwards, and the connection pool too.
  EXPECT_EQ(client.rerank({.query = "q", .texts = {"a"}}).size(), 1u);
}

TEST(ClientRealServer, ConnectionsAreReused) {
  ServerProcess server;
  constexpr size_t kPool = 4;
  RerankClient client({.urls = {server.url()}, .max_connections_per_endpoint = kPool});
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        if (client.rerank({.query = "query " + std::to_string(t), .texts = {kTexts[i % 4], kTexts[(i + 1) % 4]}})
                .size() == 2) {
          ++ok;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 200);
  // Scraped through the same pool, so the scrape adds no connection either.
  const double accepted = accepted_connections(client.get("/metrics").body);
  EXPECT_LE(accepted, static_cast<double>(kPool));
  EXPECT_GE(accepted, 1.0);
  EXPECT_EQ(accepted, static_cast<double>(client.stats().connections_opened));
}

TEST(ClientRealServer, OverloadAnswers429WithRetryAfterAndRetriesWait) {
  // One request at a time: concurrent callers are refused at once with 429 and Retry-After.
  ServerProcess server({"--max-concurrent-requests", "1"});
  const std::vector<std::string> docs(32, long_text(60));

  {  // Without retries the 429 reaches the caller, with the server's message and Retry-After.
    ClientOptions o{.urls = {server.url()}};
    o.retry.max_attempts = 1;
    RerankClient client(o);
    std::atomic<int> rejected{0}, ok{0}, other{0};
    std::atomic<long> retry_after_ms{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 5; ++i) {
          try {
            client.rerank({.query = "panda", .texts = docs});
            ++ok;
          } catch (const HttpError& e) {
            if (e.status() == 429) {
              ++rejected;
              EXPECT_EQ(e.kind(), Error::Kind::kOverloaded);
              EXPECT_EQ(e.error_type(), "overloaded");
              if (e.retry_after()) retry_after_ms = e.retry_after()->count();
            } else {
              ++other;
            }
          } catch (const Error&) {
            ++other;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_GT(rejected.load(), 0);
    EXPECT_GT(ok.load(), 0);
    EXPECT_EQ(other.load(), 0);
    EXPECT_GE(retry_after_ms.load(), 1000);  // the server says at least a second
  }
  {  // With retries the client waits Retry-After (>= 1 s) before resending.
    RetryWaits waits(RetryWaits::Mode::kWait);
    ClientOptions o{.urls = {server.url()}};
    o.retry.max_attempts = 3;
    o.retry.test_wait = waits.hook();
    RerankClient client(o);
    std::vector<std::thread> threads;
    std::atomic<int> ok{0}, rejected{0}, other{0};
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 2; ++i) {
          try {
            client.rerank({.query = "panda", .texts = docs});
            ++ok;
          } catch (const HttpError& e) {
            (e.status() == 429 ? rejected : other)++;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    const ClientStats stats = client.stats();
    EXPECT_EQ(other.load(), 0);
    EXPECT_EQ(ok.load() + rejected.load(), 8);
    EXPECT_GT(stats.retries, 0u);
    EXPECT_GT(ok.load(), 0);
    // Every retry here answers a 429, so each waited at least the server's Retry-After.
    const auto delays = waits.delays();
    EXPECT_EQ(delays.size(), stats.retries);
    for (const auto d : delays) EXPECT_GE(d, milliseconds(1000));

  }
}

TEST(ClientRealServer, StoppedReplicaIsRoutedAround) {
  ServerProcess a, b;
  ClientOptions o{.urls = {a.url(), b.url()}, .max_connections_per_endpoint = 4};
  o.health.failure_threshold = 2;
  RerankClient client(o);
  Load load(4, [&] {
    if (client.rerank({.query = "panda", .texts = kTexts}).size() != kTexts.size()) {
      throw Error(Error::Kind::kInternal, "an answer with the wrong number of results");
    }
  });
  // Mid-run: both replicas have served, and the client holds connections to a.
  ASSERT_TRUE(load.wait_for([&](int ok, int) { return ok >= 20 && client.stats().endpoints[0].open_connections > 0; },
                            kLoadWait));
  const int before = load.ok();
  a.terminate();  // drains what it has, refuses the rest; returns once it has exited
  // Requests keep succeeding, on b, after the client has found a gone.
  EXPECT_TRUE(load.wait_for(
      [&](int ok, int) { return ok >= before + 20 && client.stats().endpoints[0].consecutive_failures > 0; },
      kLoadWait));
  load.stop();
  EXPECT_EQ(load.failed(), 0) << load.first_failure();
  EXPECT_EQ(client.stats().endpoints[1].consecutive_failures, 0);
}

TEST(ClientRealServer, KilledReplicaIsRoutedAround) {
  // SIGKILL: no drain, connections reset mid-flight. Requests that the dead server had not
  // started answering on a reused connection are resent; the rest of the run goes to b.
  ServerProcess a, b;
  ClientOptions o{.urls = {a.url(), b.url()}, .max_connections_per_endpoint = 4};
  RerankClient client(o);
  std::atomic<int> refused_surfaced{0};
  Load load(4, [&] {
    try {
      client.rerank({.query = "panda", .texts = kTexts});
    } catch (const TransportError& e) {
      if (e.phase() == TransportError::Phase::kConnect) ++refused_surfaced;
      throw;
    }
  });
  ASSERT_TRUE(load.wait_for([&](int ok, int) { return ok >= 20 && client.stats().endpoints[0].open_connections > 0; },
                            kLoadWait));
  a.kill();  // returns once it is gone
  const int after_kill = load.ok();
  EXPECT_TRUE(load.wait_for(
      [&](int ok, int) {
        const ClientStats::Endpoint dead = client.stats().endpoints[0];
        return ok >= after_kill + 20 && (dead.cooling_down || dead.consecutive_failures > 0);
      },
      kLoadWait));
  load.stop();
  EXPECT_LE(load.failed(), 4) << load.first_failure();  // at most the requests a's compute had in hand
  EXPECT_EQ(refused_surfaced.load(), 0) << "a refused connection to the dead one must be retried on b";
}

}  // namespace
}  // namespace rerankd::client
