// The one error convention, over every Kind: the answer the server builds for an Error, read back
// by the client library, gives the same Kind, with the documented body and headers. The statuses
// and types expected here are docs/api.md's Errors table, written down independently of the code.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <map>
#include <set>
#include <string>

#include "client/http_error.h"
#include "common/error.h"
#include "common/error_class.h"
#include "server/error_response.h"

namespace rerankd {
namespace {

using K = Error::Kind;

struct Documented {
  unsigned status;
  std::string type;
};

// docs/api.md, "Errors".
const std::map<K, Documented>& documented() {
  static const std::map<K, Documented> table{
      {K::kInvalidInput, {400, "validation"}},     {K::kUnauthorized, {401, "unauthorized"}},
      {K::kNotFound, {404, "not_found"}},          {K::kMethodNotAllowed, {405, "method_not_allowed"}},
      {K::kTooLarge, {413, "payload_too_large"}},  {K::kHeadersTooLarge, {431, "payload_too_large"}},
      {K::kUnprocessable, {422, "validation"}},    {K::kOverloaded, {429, "overloaded"}},
      {K::kRateLimited, {429, "rate_limited"}},    {K::kUnavailable, {503, "unhealthy"}},
      {K::kTimeout, {504, "timeout"}},
      {K::kInternal, {500, "backend"}},            {K::kModelFormat, {500, "backend"}},
      {K::kIo, {500, "backend"}},
  };
  return table;
}

TEST(ErrorConvention, EveryKindHasOneRowAndEveryRowIsDocumented) {
  std::set<std::string_view> names;
  size_t rows = 0;
  for (const ErrorClass& c : error_classes()) {
    EXPECT_EQ(&error_class(c.kind), &c) << c.name;
    EXPECT_TRUE(names.insert(c.name).second) << c.name << " twice";
    ASSERT_TRUE(documented().count(c.kind)) << c.name << " is not in docs/api.md";
    ++rows;
  }
  EXPECT_EQ(rows, documented().size());
}

TEST(ErrorConvention, ServerAnswerReadBackByTheClientGivesTheSameKind) {
  for (const ErrorClass& c : error_classes()) {
    SCOPED_TRACE(std::string(c.name));
    const Documented& want = documented().at(c.kind);
    // Invalid UTF-8 in the message, as a request's bytes echoed back can be.
    const server::HttpResponse response = server::error_response(Error(c.kind, "bad \xff byte", 2.5));
    EXPECT_EQ(response.result_int(), want.status);
    EXPECT_EQ(response[server::http::field::content_type], "application/json");

    simdjson::dom::parser parser;
    simdjson::dom::object body;
    ASSERT_EQ(parser.parse(response.body()).get_object().get(body), simdjson::SUCCESS) << response.body();
    EXPECT_EQ(body.size(), 2u);
    EXPECT_EQ(std::string_view(body["error"]), "bad \xef\xbf\xbd byte");
    EXPECT_EQ(std::string_view(body["error_type"]), want.type);

    const bool refused = want.status == 429;
    EXPECT_EQ(response[server::http::field::retry_after], refused ? "3" : "");  // 2.5 s, rounded up
    EXPECT_EQ(response[server::http::field::www_authenticate], c.kind == K::kUnauthorized ? "Bearer" : "");

    const client::HttpError read = client::make_http_error("POST", "http://h/rerank", response.result_int(),
                                                           response.body(), std::nullopt, "");
    // Three Kinds share 500; a client cannot tell which, and reads a bug. Two share 429, which a
    // client reads as overload (error_type still tells them apart).
    EXPECT_EQ(read.kind(), want.status == 500 ? K::kInternal : want.status == 429 ? K::kOverloaded : c.kind);
    EXPECT_EQ(read.error_type(), want.type);
    EXPECT_EQ(read.server_message(), "bad \xef\xbf\xbd byte");
    // A client resends exactly what can succeed unchanged: overload, unavailability, a timeout.
    EXPECT_EQ(c.retryable, want.status == 429 || want.status == 503 || want.status == 504);
  }
}

TEST(ErrorConvention, RetryAfterOnlyWhenTheSecondsAreKnown) {
  const server::HttpResponse unknown = server::error_response(Error(K::kOverloaded, "busy"));
  EXPECT_EQ(unknown[server::http::field::retry_after], "");
  const server::HttpResponse soon = server::error_response(Error(K::kOverloaded, "busy", 0.01));
  EXPECT_EQ(soon[server::http::field::retry_after], "1");
}

TEST(ErrorConvention, StatusesNoRowHasReadAsTheirClass) {
  EXPECT_EQ(kind_for_status(408), K::kTimeout);
  EXPECT_EQ(kind_for_status(429), K::kOverloaded);
  EXPECT_EQ(kind_for_status(418), K::kInvalidInput);
  EXPECT_EQ(kind_for_status(502), K::kInternal);
  EXPECT_EQ(kind_for_status(200), K::kInternal);
}

TEST(ErrorConvention, ExitStatusSeparatesUsageFromFailureFromBugs) {
  for (const ErrorClass& c : error_classes()) {
    const int want = c.kind == K::kInternal ? 70 : (c.http_status / 100 == 4 && c.http_status != 429) ? 2 : 1;
    EXPECT_EQ(c.exit_code, want) << c.name;
  }
}

}  // namespace
}  // namespace rerankd
