// The client's pure parts: URLs, retry timing and budget, endpoint choice, JSON both ways, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "client/api_types.h"
#include "client/endpoint_selector.h"
#include "client/http_connection.h"
#include "client/http_error.h"
#include "client/retry_policy.h"
#include "client/url.h"

namespace rerankd::client {
namespace {

using std::chrono::milliseconds;

TEST(Url, ParsesHostPortAndPrefix) {
  Url u = parse_url("http://127.0.0.1:8080");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 8080);
  EXPECT_EQ(u.base_path, "");
  u = parse_url("http://rerank.internal/api/v2/");
  EXPECT_EQ(u.host, "rerank.internal");
  EXPECT_EQ(u.port, 80);
  EXPECT_EQ(u.base_path, "/api/v2");
  EXPECT_EQ(u.str(), "http://rerank.internal:80/api/v2");
  u = parse_url("localhost:9000");
  EXPECT_EQ(u.host, "localhost");
  EXPECT_EQ(u.port, 9000);
  u = parse_url("http://[::1]:8081");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.authority(), "[::1]:8081");
}

TEST(Url, RejectsWhatItCannotServe) {
  for (const char* bad : {"https://example.com", "ftp://x", "http://", "http://:80", "http://host:0",
                          "http://host:99999", "http://host:12ab", "http://host/x?y=1", "http://u@host"}) {
    try {
      parse_url(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::kInvalidInput) << bad;
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}

TEST(RetryPolicy, RetryableStatuses) {
  for (unsigned s : {429u, 502u, 503u, 504u}) EXPECT_TRUE(is_retryable_status(s)) << s;
  for (unsigned s : {200u, 400u, 404u, 408u, 413u, 422u, 500u, 501u}) EXPECT_FALSE(is_retryable_status(s)) << s;
}

TEST(RetryPolicy, FullJitterWithinTheExponentialCeiling) {
  RetryOptions o;
  o.base_backoff = milliseconds(100);
  o.max_backoff = milliseconds(1000);
  EXPECT_EQ(retry_delay(o, 1, std::nullopt, 0.0), std::chrono::nanoseconds(0));
  EXPECT_EQ(retry_delay(o, 1, std::nullopt, 0.5), milliseconds(50));
  EXPECT_EQ(retry_delay(o, 3, std::nullopt, 0.5), milliseconds(200));  // ceiling 400
  EXPECT_EQ(retry_delay(o, 10, std::nullopt, 0.5), milliseconds(500)); // capped at 1000
  EXPECT_EQ(retry_delay(o, 1000, std::nullopt, 1.0), milliseconds(1000));
}

TEST(RetryPolicy, RetryAfterIsAFloor) {
  RetryOptions o;
  o.base_backoff = milliseconds(100);
  EXPECT_EQ(retry_delay(o, 1, milliseconds(1000), 0.0), milliseconds(1000));
  EXPECT_EQ(retry_delay(o, 1, milliseconds(1000), 0.5), milliseconds(1050));
}

TEST(RetryPolicy, BudgetCapsRetriesAtAShareOfRequests) {
  RetryBudget budget(0.2, 5);
  int retries = 0;
  for (int i = 0; i < 100; ++i) {
    budget.on_request();
    while (budget.try_spend()) ++retries;  // a client that would retry everything
  }
  EXPECT_LE(retries, 5 + 20 + 1);
  EXPECT_GE(retries, 20);
  RetryBudget none(0.0, 0.0);
  none.on_request();
  EXPECT_FALSE(none.try_spend());
}

TEST(EndpointSelector, LeastInFlightThenRotation) {
  EndpointSelector s(3, {});
  const size_t a = s.acquire();
  const size_t b = s.acquire();
  const size_t c = s.acquire();
  EXPECT_NE(a, b);
  EXPECT_NE(b, c);
  EXPECT_NE(a, c);
  s.release(b);
  EXPECT_EQ(s.acquire(), b);  // the only one with nothing in flight
  EXPECT_EQ(s.state(b).in_flight, 1u);
}

TEST(EndpointSelector, AvoidsTheEndpointThatJustFailed) {
  EndpointSelector s(2, {});
  for (int i = 0; i < 10; ++i) {
    const size_t e = s.acquire(0);
    EXPECT_EQ(e, 1u);
    s.release(e);
  }
  EndpointSelector single(1, {});
  EXPECT_EQ(single.acquire(0), 0u);  // no alternative: retry the same one
}

// The selector's time, moved by the test: cool-downs are checked without waiting them out.
struct VirtualClock {
  EndpointSelector::Clock::time_point now = EndpointSelector::Clock::time_point{} + std::chrono::hours(1);
  std::function<EndpointSelector::Clock::time_point()> source() {
    return [this] { return now; };
  }
};

TEST(EndpointSelector, CoolsDownAfterConsecutiveFailures) {
  VirtualClock clock;
  EndpointSelector s(2, {.failure_threshold = 3, .cooldown = milliseconds(200)}, clock.source());
  s.record_connection_failure(0);
  s.record_connection_failure(0);
  s.record_success(0);  // resets the streak
  s.record_connection_failure(0);
  s.record_connection_failure(0);
  EXPECT_FALSE(s.state(0).cooling_down);
  s.record_connection_failure(0);
  EXPECT_TRUE(s.state(0).cooling_down);
  for (int i = 0; i < 10; ++i) {
    const size_t e = s.acquire();
    EXPECT_EQ(e, 1u);  // even with more in flight on 1
  }
  clock.now += milliseconds(199);
  EXPECT_TRUE(s.state(0).cooling_down);
  EXPECT_EQ(s.acquire(), 1u);
  clock.now += milliseconds(1);
  EXPECT_FALSE(s.state(0).cooling_down);
  EXPECT_EQ(s.acquire(), 0u);  // back, and idle
  s.record_connection_failure(0);  // one more failure: straight back to cool-down
  EXPECT_TRUE(s.state(0).cooling_down);
  clock.now += milliseconds(199);
  EXPECT_TRUE(s.state(0).cooling_down);  // a whole cool-down again, from this failure
}

TEST(EndpointSelector, AllCoolingPicksTheOneBackFirst) {
  VirtualClock clock;
  EndpointSelector s(2, {.failure_threshold = 1, .cooldown = milliseconds(10000)}, clock.source());
  s.record_connection_failure(1);
  clock.now += milliseconds(5);
  s.record_connection_failure(0);
  EXPECT_EQ(s.acquire(), 1u);
  EXPECT_EQ(s.acquire(), 1u);  // whatever it has in flight: none of the others is back sooner
  clock.now += milliseconds(1);
  s.record_connection_failure(1);  // now 1's cool-down ends last
  EXPECT_EQ(s.acquire(), 0u);
}

TEST(ApiTypes, RequestsSerializeToTheServersShapes) {
  RerankRequest r{.query = "q \"x\"", .texts = {"a", "b"}};
  EXPECT_EQ(to_json(r), R"({"query":"q \"x\"","texts":["a","b"]})");
  r.raw_scores = true;
  r.return_text = true;
  r.truncate = false;
  r.truncation_direction = TruncationDirection::kLeft;
  EXPECT_EQ(to_json(r),
            R"({"query":"q \"x\"","texts":["a","b"],"raw_scores":true,"return_text":true,"truncate":false,)"
            R"("truncation_direction":"Left"})");
  EXPECT_EQ(to_json(ScoreRequest{.query = "q", .documents = {"d"}}), R"({"query":"q","documents":["d"]})");
  EXPECT_EQ(to_json(ScoreRequest{.query = "q", .documents = {"d"}, .model = "m"}),
            R"({"model":"m","query":"q","documents":["d"]})");
  EXPECT_EQ(to_json(RerankRequest{.query = "q", .texts = {"a"}, .model = "m"}), R"({"model":"m","query":"q","texts":["a"]})");
  EXPECT_EQ(to_json(RerankV1Request{.query = "q", .documents = {"d", "e"}, .top_n = 1, .return_documents = true,
                                    .model = "m"}),
            R"({"model":"m","query":"q","documents":["d","e"],"top_n":1,"return_documents":true})");
}

TEST(ApiTypes, ResponsesParse) {
  const RerankResponse ranked = parse_rerank_response(R"([{"index":1,"score":0.9,"text":"b"},{"index":0,"score":null}])");
  ASSERT_EQ(ranked.size(), 2u);
  EXPECT_EQ(ranked[0].index, 1u);
  EXPECT_DOUBLE_EQ(ranked[0].score, 0.9);
  EXPECT_EQ(ranked[0].text, "b");
  EXPECT_TRUE(std::isnan(ranked[1].score));
  EXPECT_FALSE(ranked[1].text.has_value());

  EXPECT_EQ(parse_score_response(R"({"scores":[0.5,1,-2.25]})"), (ScoreResponse{0.5, 1.0, -2.25}));

  const RerankV1Response v1 = parse_rerank_v1_response(
      R"({"id":"abc","model":"bge","results":[{"index":2,"relevance_score":0.7,"document":{"text":"c"}},)"
      R"({"index":0,"relevance_score":0.1}],"usage":{"total_tokens":42}})");
  EXPECT_EQ(v1.id, "abc");
  EXPECT_EQ(v1.model, "bge");
  EXPECT_EQ(v1.total_tokens, 42u);
  ASSERT_EQ(v1.results.size(), 2u);
  EXPECT_EQ(v1.results[0].index, 2u);
  EXPECT_EQ(v1.results[0].document, "c");
  EXPECT_FALSE(v1.results[1].document.has_value());
}

TEST(ApiTypes, MalformedResponsesAreInternalErrors) {
  // Each parser sees every body on its own, so one parser throwing cannot hide another accepting.
  auto internal_error = [](auto parse, const char* body) {
    try {
      parse(body);
      return false;
    } catch (const Error& e) {
      return e.kind() == Error::Kind::kInternal;
    }
  };
  for (const char* body : {"", "{", R"({"scores":1})", R"([{"score":1}])", R"({"results":[{"index":0}]})"}) {
    EXPECT_TRUE(internal_error(parse_rerank_response, body)) << "rerank: " << body;
    EXPECT_TRUE(internal_error(parse_score_response, body)) << "score: " << body;
    EXPECT_TRUE(internal_error(parse_rerank_v1_response, body)) << "v1: " << body;
  }
}

TEST(ApiTypes, CountsDocumentsOfAnyShape) {
  EXPECT_EQ(count_documents(R"({"query":"q","texts":["a","b","c"]})"), 3u);
  EXPECT_EQ(count_documents(R"({"query":"q","documents":[{"text":"a"}]})"), 1u);
  EXPECT_THROW(count_documents(R"({"query":"q"})"), Error);
  EXPECT_THROW(count_documents("[1]"), Error);
}

TEST(HttpErrors, CarryTheServersMessageAndStatus) {
  const HttpError e = make_http_error("POST", "http://h:1/rerank", 422,
                                      R"({"error":"field \"texts\" must not be empty","error_type":"validation"})",
                                      std::nullopt, "req-1");
  EXPECT_EQ(e.status(), 422u);
  EXPECT_EQ(e.kind(), Error::Kind::kUnprocessable);
  EXPECT_EQ(e.error_type(), "validation");
  EXPECT_EQ(e.server_message(), "field \"texts\" must not be empty");
  EXPECT_EQ(e.request_id(), "req-1");
  EXPECT_STREQ(e.what(), "POST http://h:1/rerank: 422 validation: field \"texts\" must not be empty");

  const HttpError raw = make_http_error("GET", "http://h:1/x", 502, "<html>bad gateway</html>", milliseconds(2000), "");
  EXPECT_EQ(raw.kind(), Error::Kind::kInternal);
  EXPECT_EQ(raw.server_message(), "<html>bad gateway</html>");
  EXPECT_EQ(raw.retry_after(), milliseconds(2000));
}

TEST(HttpErrors, RetryAfterParsing) {
  EXPECT_EQ(parse_retry_after("2"), milliseconds(2000));
  EXPECT_EQ(parse_retry_after(" 0.25 "), milliseconds(250));
  EXPECT_EQ(parse_retry_after("0"), milliseconds(0));
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), std::nullopt);
  EXPECT_EQ(parse_retry_after("-1"), std::nullopt);
  EXPECT_EQ(parse_retry_after(""), std::nullopt);
}

}  // namespace
}  // namespace rerankd::client
