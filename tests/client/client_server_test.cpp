// The client against the real `rerankd serve` on 127.0.0.1 (tiny test model): the three request
// shapes, connection reuse seen from the server's own counter, 429 with Retry-After under
// overload, validation errors with the server's message, deadlines, and a replica that stops
// mid-run.
#include <gtest/gtest.h>

#include <utility>

#include <atomic>
#include <boost/asio/use_future.hpp>
#include <sstream>
#include <thread>

#include "client/rerank_client.h"
#include "server_process.h"

namespace rerankd::client {
namespace {

using rerankd::testing::ServerProcess;
using rerankd::testing::SharedServerTest;
using std::chrono::milliseconds;
using Seconds = std::chrono::duration<double>;

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
  std::vector<std::string> many(64, long_text(120));
  RerankRequest request{.query = "panda", .texts = many};
  request.call.timeout = milliseconds(2);
  try {
    client.rerank(request);
    ADD_FAILURE() << "a 64-document request answered within 2 ms";
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
    ClientOptions o{.urls = {server.url()}};
    o.retry.max_attempts = 3;
    RerankClient client(o);
    std::vector<std::thread> threads;
    std::atomic<int> ok{0}, rejected{0}, other{0};
    const auto start = std::chrono::steady_clock::now();
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
    const double elapsed = Seconds(std::chrono::steady_clock::now() - start).count();
    const ClientStats stats = client.stats();
    EXPECT_EQ(other.load(), 0);
    EXPECT_EQ(ok.load() + rejected.load(), 8);
    EXPECT_GT(stats.retries, 0u);
    EXPECT_GE(elapsed, 1.0);  // at least one retry slept out its Retry-After
    EXPECT_GT(ok.load(), 0);
  }
}

TEST(ClientRealServer, StoppedReplicaIsRoutedAround) {
  ServerProcess a, b;
  ClientOptions o{.urls = {a.url(), b.url()}, .max_connections_per_endpoint = 4};
  o.health.failure_threshold = 2;
  RerankClient client(o);
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::string first_failure;
  std::mutex mutex;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        try {
          if (client.rerank({.query = "panda", .texts = kTexts}).size() == kTexts.size()) ++ok;
        } catch (const Error& e) {
          ++failed;
          std::lock_guard lock(mutex);
          if (first_failure.empty()) first_failure = e.what();
        }
      }
    });
  }
  std::this_thread::sleep_for(milliseconds(700));
  const int before = ok.load();
  a.terminate();  // stops mid-run: drains what it has, refuses the rest
  std::this_thread::sleep_for(milliseconds(1200));
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0) << first_failure;
  EXPECT_GT(before, 0);
  EXPECT_GT(ok.load(), before);  // requests kept succeeding on b
  const ClientStats stats = client.stats();
  EXPECT_GT(stats.endpoints[0].consecutive_failures, 0);
  EXPECT_EQ(stats.endpoints[1].consecutive_failures, 0);
}

TEST(ClientRealServer, KilledReplicaIsRoutedAround) {
  // SIGKILL: no drain, connections reset mid-flight. Requests that the dead server had not
  // started answering on a reused connection are resent; the rest of the run goes to b.
  ServerProcess a, b;
  ClientOptions o{.urls = {a.url(), b.url()}, .max_connections_per_endpoint = 4};
  RerankClient client(o);
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        try {
          client.rerank({.query = "panda", .texts = kTexts});
          ++ok;
        } catch (const Error&) {
          ++failed;
        }
      }
    });
  }
  std::this_thread::sleep_for(milliseconds(500));
  a.kill();
  std::this_thread::sleep_for(milliseconds(500));
  const int after_kill = ok.load();
  std::this_thread::sleep_for(milliseconds(700));
  stop = true;
  for (auto& t : threads) t.join();
  EXPECT_GT(ok.load(), after_kill);
  EXPECT_LE(failed.load(), 4);  // at most the requests a's compute had in hand
  EXPECT_TRUE(client.stats().endpoints[0].cooling_down || client.stats().endpoints[0].consecutive_failures > 0);
}

}  // namespace
}  // namespace rerankd::client
