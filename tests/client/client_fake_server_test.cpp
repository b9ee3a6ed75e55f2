// The client against a scripted server: retries and Retry-After, the retry budget, timeouts,
// errors that must not be retried, dead keep-alive connections, pool limits and idle expiry, and
// an endpoint that refuses connections.
#include <gtest/gtest.h>

#include <algorithm>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>
#include <future>
#include <thread>

#include "client/rerank_client.h"
#include "fake_http_server.h"
#include "retry_waits.h"

namespace rerankd::client {
namespace {

using rerankd::testing::FakeHttpServer;
using rerankd::testing::FakeRequest;
using rerankd::testing::FakeResponse;
using rerankd::testing::RetryWaits;
using std::chrono::milliseconds;

constexpr const char* kRanked = R"([{"index":1,"score":0.75},{"index":0,"score":0.25}])";

FakeResponse ok_ranked() { return FakeResponse{.body = kRanked}; }

FakeResponse error_response(unsigned status, std::string message, std::string type,
                            std::vector<std::pair<std::string, std::string>> headers = {}) {
  FakeResponse r;
  r.status = status;
  r.body = R"({"error":")" + message + R"(","error_type":")" + type + R"("})";
  r.headers = std::move(headers);
  return r;
}

RerankRequest two_texts() { return RerankRequest{.query = "q", .texts = {"a", "b"}}; }

// An answer that comes long after any timeout in these tests: a call that does not time out
// gets it, and fails the test, instead of hanging. (stop() cuts the wait short.)
FakeResponse answer_much_later() {
  FakeResponse r = ok_ranked();
  r.delay = std::chrono::seconds(20);
  return r;
}

// A port nothing listens on: bound, then closed.
uint16_t closed_port() {
  boost::asio::io_context context;
  boost::asio::ip::tcp::acceptor acceptor(context, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

ClientOptions options_for(std::vector<std::string> urls) {
  ClientOptions o;
  o.urls = std::move(urls);
  o.retry.base_backoff = milliseconds(10);
  return o;
}

TEST(ClientFake, ParsesAnOkAnswerAndSendsTheDeadline) {
  FakeHttpServer server([](const FakeRequest&) { return ok_ranked(); });
  ClientOptions o = options_for({server.url()});
  o.request_timeout = milliseconds(5000);
  RerankClient client(o);
  RerankRequest request = two_texts();
  request.call.request_id = "test-42";
  const auto start = std::chrono::steady_clock::now();
  const RerankResponse ranked = client.rerank(request);
  ASSERT_EQ(ranked.size(), 2u);
  EXPECT_EQ(ranked[0].index, 1u);
  const auto received = server.received();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(received[0].method, "POST");
  EXPECT_EQ(received[0].target, "/rerank");
  EXPECT_EQ(received[0].body, R"({"query":"q","texts":["a","b"]})");
  EXPECT_EQ(received[0].headers.at("x-request-id"), "test-42");
  // The time left when it was sent: at most the 5 s, and at least what the server's receipt
  // leaves of them (the call began after `start`, was sent before the receipt; 1 ms of rounding).
  const double timeout = std::stod(received[0].headers.at("x-request-timeout"));
  EXPECT_LE(timeout, 5.0);
  EXPECT_GE(timeout, 5.0 - std::chrono::duration<double>(received[0].received_at - start).count() - 0.001);
}

TEST(ClientFake, RetryAfterIsObeyed) {
  FakeHttpServer server([](const FakeRequest& r) {
    if (r.index == 0) return error_response(429, "queue full", "overloaded", {{"Retry-After", "1"}});
    return ok_ranked();
  });
  RetryWaits waits(RetryWaits::Mode::kWait);
  ClientOptions o = options_for({server.url()});
  o.retry.test_wait = waits.hook();
  RerankClient client(o);
  const RerankResponse ranked = client.rerank(two_texts());
  EXPECT_EQ(ranked.size(), 2u);
  EXPECT_EQ(server.requests(), 2u);
  EXPECT_EQ(client.stats().retries, 1u);
  // Retry-After is the floor, plus full jitter under the first backoff ceiling (10 ms).
  const auto delays = waits.delays();
  ASSERT_EQ(delays.size(), 1u);
  EXPECT_GE(delays[0], milliseconds(1000));
  EXPECT_LE(delays[0], milliseconds(1010));
  // And it was waited out: the resend reached the server at least that long after the first.
  const auto received = server.received();
  ASSERT_EQ(received.size(), 2u);
  EXPECT_GE(received[1].received_at - received[0].received_at, delays[0]);
  // The retry went out on the kept-alive connection.
  EXPECT_EQ(server.accepted(), 1u);
}

TEST(ClientFake, RetryableStatusesAreRetriedUpToMaxAttempts) {
  for (unsigned status : {502u, 503u, 504u}) {
    FakeHttpServer server([status](const FakeRequest&) { return error_response(status, "nope", "backend"); });
    ClientOptions o = options_for({server.url()});
    o.retry.max_attempts = 3;
    RerankClient client(o);
    try {
      client.rerank(two_texts());
      ADD_FAILURE() << "no error for " << status;
    } catch (const HttpError& e) {
      EXPECT_EQ(e.status(), status);
      EXPECT_EQ(e.server_message(), "nope");
    }
    EXPECT_EQ(server.requests(), 3u) << status;
  }
}

TEST(ClientFake, BackoffGrowsUnderTheExponentialCeiling) {
  FakeHttpServer server([](const FakeRequest&) { return error_response(503, "draining", "unhealthy"); });
  RetryWaits waits;  // virtual: the delays are recorded, not waited
  ClientOptions o = options_for({server.url()});
  o.retry.max_attempts = 4;
  o.retry.base_backoff = milliseconds(100);
  o.retry.max_backoff = milliseconds(10000);
  o.retry.budget_burst = 1000;  // every call gets its three retries
  o.retry.test_wait = waits.hook();
  RerankClient client(o);
  constexpr size_t kCalls = 50;
  for (size_t i = 0; i < kCalls; ++i) EXPECT_THROW(client.rerank(two_texts()), HttpError);
  ASSERT_EQ(server.requests(), 4u * kCalls);
  // Full jitter: wait k of a call is uniform in [0, 100 * 2^(k-1)] ms. Each stays under its own
  // ceiling, and over 50 calls each wait's largest passes the ceiling before it (a false failure
  // has probability 2^-50), so the retry number reaches the policy.
  const auto delays = waits.delays();
  ASSERT_EQ(delays.size(), 3u * kCalls);
  for (size_t k = 1; k <= 3; ++k) {
    const milliseconds ceiling(100 << (k - 1));
    std::chrono::nanoseconds largest{0};
    for (size_t call = 0; call < kCalls; ++call) {
      const auto d = delays[call * 3 + (k - 1)];
      EXPECT_LE(d, ceiling) << "wait " << k << " of call " << call;
      largest = std::max(largest, d);
    }
    if (k > 1) {
      EXPECT_GT(largest, ceiling / 2) << "wait " << k;
    }
  }
}

TEST(ClientFake, RetryBudgetStopsAStampede) {
  FakeHttpServer server([](const FakeRequest&) { return error_response(503, "overloaded", "unhealthy"); });
  ClientOptions o = options_for({server.url()});
  o.retry.max_attempts = 5;
  o.retry.base_backoff = milliseconds(1);
  o.retry.max_backoff = milliseconds(2);
  o.retry.budget_ratio = 0.1;
  o.retry.budget_burst = 3;
  RerankClient client(o);
  constexpr int kCalls = 50;
  for (int i = 0; i < kCalls; ++i) EXPECT_THROW(client.rerank(two_texts()), HttpError);
  // Without a budget: 250 requests. With it: at most 50 + 0.1 * 50 + 3.
  EXPECT_LE(server.requests(), kCalls + 5u + 3u);
  EXPECT_GT(client.stats().retries_denied, 0u);
}

TEST(ClientFake, NonRetryableErrorsSurfaceAtOnceWithTheServersMessage) {
  for (unsigned status : {400u, 404u, 413u, 422u, 500u}) {
    FakeHttpServer server([status](const FakeRequest&) {
      return error_response(status, "field \\\"texts\\\" must not be empty", "validation");
    });
    RetryWaits waits;
    ClientOptions o = options_for({server.url()});
    o.retry.test_wait = waits.hook();
    RerankClient client(o);
    try {
      client.rerank(two_texts());
      ADD_FAILURE() << "no error for " << status;
    } catch (const HttpError& e) {
      EXPECT_EQ(e.status(), status);
      EXPECT_EQ(e.server_message(), "field \"texts\" must not be empty");
      EXPECT_EQ(e.error_type(), "validation");
      EXPECT_NE(std::string(e.what()).find("must not be empty"), std::string::npos);
    }
    EXPECT_TRUE(waits.delays().empty()) << status;  // "at once": no retry wait began
    EXPECT_EQ(server.requests(), 1u) << status;
    EXPECT_EQ(client.stats().retries, 0u);
  }
}

TEST(ClientFake, RequestTimeoutFires) {
  FakeHttpServer server([](const FakeRequest&) { return answer_much_later(); });
  ClientOptions o = options_for({server.url()});
  o.request_timeout = milliseconds(300);
  RerankClient client(o);
  const auto start = std::chrono::steady_clock::now();
  try {
    client.rerank(two_texts());
    ADD_FAILURE() << "no timeout";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kTimeout);
    EXPECT_TRUE(e.timed_out());
    EXPECT_NE(std::string(e.what()).find("timed out"), std::string::npos) << e.what();
  }
  // Not early: the deadline is set after `start`, and a timer never fires before its time.
  EXPECT_GE(std::chrono::steady_clock::now() - start, milliseconds(300));
  EXPECT_EQ(server.requests(), 1u);  // a request that was sent is never resent after a timeout
  const double told = std::stod(server.received().at(0).headers.at("x-request-timeout"));
  EXPECT_GT(told, 0.0);
  EXPECT_LE(told, 0.3);
}

TEST(ClientFake, PerCallTimeoutOverridesTheDefault) {
  FakeHttpServer server([](const FakeRequest&) { return answer_much_later(); });
  RerankClient client(options_for({server.url()}));  // the default (30 s) outlasts the answer
  RerankRequest request = two_texts();
  request.call.timeout = milliseconds(100);
  try {
    client.rerank(request);
    ADD_FAILURE() << "no timeout: the per-call timeout was not used";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kTimeout);
  }
  EXPECT_LE(std::stod(server.received().at(0).headers.at("x-request-timeout")), 0.1);
}

TEST(ClientFake, ConnectionClosedAfterTheRequestIsNotResent) {
  FakeHttpServer server([](const FakeRequest&) {
    return FakeResponse{.action = FakeResponse::Action::kCloseWithoutResponse};
  });
  RerankClient client(options_for({server.url()}));
  try {
    client.rerank(two_texts());
    ADD_FAILURE() << "no error";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kUnavailable);
    EXPECT_EQ(e.phase(), TransportError::Phase::kAwaitResponse);
  }
  EXPECT_EQ(server.requests(), 1u);  // fresh connection: the server may have acted on it
}

TEST(ClientFake, ConnectionRefusedIsRetriedAndSurfaces) {
  ClientOptions o = options_for({"http://127.0.0.1:" + std::to_string(closed_port())});
  o.retry.max_attempts = 3;
  RerankClient client(o);
  try {
    client.rerank(two_texts());
    ADD_FAILURE() << "no error";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kUnavailable);
    EXPECT_EQ(e.phase(), TransportError::Phase::kConnect);
    EXPECT_NE(std::string(e.what()).find("cannot connect"), std::string::npos) << e.what();
  }
  EXPECT_EQ(client.stats().retries, 2u);
}

TEST(ClientFake, RefusingEndpointIsSkippedAfterFailures) {
  FakeHttpServer server([](const FakeRequest&) { return ok_ranked(); });
  ClientOptions o = options_for({"http://127.0.0.1:" + std::to_string(closed_port()), server.url()});
  o.health.failure_threshold = 2;
  o.health.cooldown = milliseconds(60000);
  RerankClient client(o);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(client.rerank(two_texts()).size(), 2u);
  EXPECT_EQ(server.requests(), 20u);
  const ClientStats stats = client.stats();
  EXPECT_TRUE(stats.endpoints[0].cooling_down);
  EXPECT_LE(stats.retries, 2u);  // two failures, then the dead one is no longer tried
}

TEST(ClientFake, DeadKeepAliveConnectionIsReplacedTransparently) {
  // The server closes every connection right after answering, without Connection: close; the
  // client finds it dead when it next checks the connection out.
  FakeHttpServer server([](const FakeRequest&) {
    FakeResponse r = ok_ranked();
    r.close_after = true;
    return r;
  });
  RerankClient client(options_for({server.url()}));
  for (size_t i = 0; i < 10; ++i) {
    EXPECT_EQ(client.rerank(two_texts()).size(), 2u);
    ASSERT_TRUE(server.wait_closed(i + 1, milliseconds(30000)));  // the server's close, before the next checkout
  }
  EXPECT_EQ(server.accepted(), 10u);
  EXPECT_EQ(client.stats().retries, 0u);
  // Found dead by the liveness check at checkout, not by a failed send and a replay.
  EXPECT_EQ(client.stats().stale_connections, 0u);
}

TEST(ClientFake, ConnectionClosedAsTheRequestArrivesIsReplayed) {
  // The race that a liveness check cannot see: the server takes the next request on a kept-alive
  // connection and closes without answering (it was closing it as idle). Nothing was acted on;
  // the client resends on a fresh connection and the caller sees only the answer.
  FakeHttpServer server([](const FakeRequest& r) {
    if (r.connection_index > 0) return FakeResponse{.action = FakeResponse::Action::kCloseWithoutResponse};
    return ok_ranked();
  });
  RerankClient client(options_for({server.url()}));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(client.rerank(two_texts()).size(), 2u);
  const ClientStats stats = client.stats();
  EXPECT_EQ(stats.stale_connections, 4u);
  EXPECT_EQ(stats.retries, 0u);
  EXPECT_EQ(server.accepted(), 5u);
}

TEST(ClientFake, PoolBoundsConnectionsAcrossThreads) {
  FakeHttpServer server([](const FakeRequest&) {
    FakeResponse r = ok_ranked();
    r.delay = milliseconds(5);
    return r;
  });
  ClientOptions o = options_for({server.url()});
  o.max_connections_per_endpoint = 4;
  RerankClient client(o);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        if (client.rerank(two_texts()).size() == 2) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 120);
  EXPECT_EQ(server.requests(), 120u);
  EXPECT_LE(server.accepted(), 4u);
  EXPECT_EQ(client.stats().connections_opened, server.accepted());
  EXPECT_EQ(client.stats().endpoints[0].open_connections, server.accepted());
}

TEST(ClientFake, WaitingForAFullPoolEndsAtTheDeadline) {
  FakeHttpServer server([](const FakeRequest&) { return FakeResponse{.action = FakeResponse::Action::kNeverAnswer}; });
  ClientOptions o = options_for({server.url()});
  o.max_connections_per_endpoint = 1;
  o.request_timeout = milliseconds(600);
  RerankClient client(o);
  auto first = client.async_rerank(two_texts(), boost::asio::use_future);
  // The waiter's deadline comes well before the first call's, so the one connection is never freed
  // in time for it (with equal deadlines a loaded machine could free it just before).
  RerankRequest waiting = two_texts();
  waiting.call.timeout = milliseconds(200);
  auto second = client.async_rerank(std::move(waiting), boost::asio::use_future);
  EXPECT_THROW(first.get(), TransportError);
  try {
    second.get();
    ADD_FAILURE() << "no error";
  } catch (const TransportError& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kTimeout);
  }
  EXPECT_EQ(server.accepted(), 1u);
}

TEST(ClientFake, IdleConnectionsExpire) {
  // The expiry compares how long a connection sat idle with max_idle, so the two ends need no
  // clock: an hour keeps it for the next call, zero drops it (it has been idle for some time).
  FakeHttpServer server([](const FakeRequest&) { return ok_ranked(); });
  ClientOptions o = options_for({server.url()});
  o.max_idle = std::chrono::hours(1);
  {
    RerankClient client(o);
    client.rerank(two_texts());
    client.rerank(two_texts());
    EXPECT_EQ(server.accepted(), 1u);
  }
  o.max_idle = milliseconds(0);
  RerankClient client(o);
  client.rerank(two_texts());
  client.rerank(two_texts());
  EXPECT_EQ(server.accepted(), 3u);
  EXPECT_EQ(client.stats().connections_opened, 2u);
  EXPECT_EQ(client.stats().stale_connections, 0u);  // dropped as expired, not found dead
}

TEST(ClientFake, AsyncCallbackFutureAndCoroutine) {
  FakeHttpServer server([](const FakeRequest& r) {
    if (r.target == "/v1/rerank") {
      return FakeResponse{.body = R"({"id":"x","model":"m","results":[{"index":0,"relevance_score":0.5}],)"
                                  R"("usage":{"total_tokens":7}})"};
    }
    return ok_ranked();
  });
  // On the caller's own io_context, no client threads.
  boost::asio::io_context context;
  RerankClient client(context.get_executor(), options_for({server.url()}));

  std::promise<size_t> from_callback;
  client.async_rerank(two_texts(), [&](std::exception_ptr error, RerankResponse ranked) {
    if (error) {
      from_callback.set_exception(error);
    } else {
      from_callback.set_value(ranked.size());
    }
  });

  size_t from_coroutine = 0;
  RerankV1Request v1;
  v1.query = "q";
  v1.documents = {"a"};
  v1.top_n = 1;
  boost::asio::co_spawn(
      context,
      [&]() -> boost::asio::awaitable<void> {
        RerankV1Response r = co_await client.async_rerank_v1(v1, boost::asio::use_awaitable);
        from_coroutine = r.total_tokens;
      },
      boost::asio::detached);
  context.run();
  EXPECT_EQ(from_callback.get_future().get(), 2u);
  EXPECT_EQ(from_coroutine, 7u);
}

TEST(ClientFake, CoroutinesOnTheClientsOwnExecutor) {
  // The load generator's pattern: coroutines on the client's executor awaiting raw posts.
  FakeHttpServer server([](const FakeRequest&) { return ok_ranked(); });
  RerankClient client(options_for({server.url()}));
  std::promise<int> done;
  boost::asio::co_spawn(
      client.get_executor(),
      [&]() -> boost::asio::awaitable<int> {
        int ok = 0;
        const std::string body = R"({"query":"q","texts":["a","b"]})";
        for (int i = 0; i < 20; ++i) {
          const HttpReply reply = co_await client.async_post("/rerank", body, boost::asio::use_awaitable);
          if (reply.status == 200 && parse_rerank_response(reply.body).size() == 2) ++ok;
        }
        co_return ok;
      },
      [&](std::exception_ptr error, int ok) {
        if (error) {
          done.set_exception(error);
        } else {
          done.set_value(ok);
        }
      });
  EXPECT_EQ(done.get_future().get(), 20);
  EXPECT_EQ(server.accepted(), 1u);
}

TEST(ClientFake, ErrorsReachAsyncHandlers) {
  FakeHttpServer server([](const FakeRequest&) { return error_response(400, "bad", "validation"); });
  RerankClient client(options_for({server.url()}));
  std::future<RerankResponse> f = client.async_rerank(two_texts(), boost::asio::use_future);
  EXPECT_THROW(f.get(), HttpError);
}

TEST(ClientFake, BlockingCallOnTheClientsThreadIsRefused) {
  FakeHttpServer server([](const FakeRequest&) { return ok_ranked(); });
  RerankClient client(options_for({server.url()}));
  std::promise<std::string> what;
  boost::asio::post(client.get_executor(), [&] {
    try {
      client.rerank(two_texts());
      what.set_value("no error");
    } catch (const Error& e) {
      what.set_value(e.what());
    }
  });
  EXPECT_NE(what.get_future().get().find("would wait forever"), std::string::npos);
}

}  // namespace
}  // namespace rerankd::client
