// The rerank endpoints' JSON in and out, without sockets: what each shape accepts, which Error
// kind each mistake raises (the HTTP status follows from it), and how results are ranked.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>
#include <limits>
#include <string>

#include "common/error.h"
#include "server/rerank_api.h"

namespace rerankd::server {
namespace {

Error::Kind tei_error(const std::string& body, size_t max_documents = 10) {
  try {
    parse_tei_request(body, max_documents);
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no error for " << body;
  return Error::Kind::kInternal;
}

Error::Kind cohere_error(const std::string& body, size_t max_documents = 10) {
  try {
    parse_cohere_request(body, max_documents);
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no error for " << body;
  return Error::Kind::kInternal;
}

TEST(RerankApi, TeiShapeWithAllOptions) {
  const RerankRequest r = parse_tei_request(
      R"({"query": "q", "texts": ["a", "b"], "raw_scores": true, "return_text": true, "truncate": false,
          "truncation_direction": "Left", "unknown": [1, 2]})",
      10);
  EXPECT_EQ(r.shape, ApiShape::kTei);
  EXPECT_EQ(r.input.query, "q");
  EXPECT_EQ(r.input.documents, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(r.raw_scores);
  EXPECT_TRUE(r.return_text);
  EXPECT_FALSE(r.input.truncate);
  EXPECT_EQ(r.input.truncation_side, TruncationSide::kLeft);
}

TEST(RerankApi, DefaultsAndNullsMeanNotGiven) {
  const RerankRequest r =
      parse_tei_request(R"({"query": "q", "texts": ["a"], "raw_scores": null, "truncate": null})", 10);
  EXPECT_FALSE(r.raw_scores);
  EXPECT_FALSE(r.return_text);
  EXPECT_TRUE(r.input.truncate);
  EXPECT_EQ(r.input.truncation_side, TruncationSide::kRight);
}

TEST(RerankApi, DocumentsMakeThePlainShape) {
  const RerankRequest r = parse_tei_request(R"({"query": "q", "documents": ["a"], "return_text": true})", 10);
  EXPECT_EQ(r.shape, ApiShape::kPlain);
  EXPECT_FALSE(r.return_text);  // the plain shape has nowhere to put texts
}

TEST(RerankApi, CohereShapeTakesStringsAndTextObjects) {
  const RerankRequest r = parse_cohere_request(
      R"({"model": "m", "query": "q", "documents": ["a", {"text": "b"}], "top_n": 1, "return_documents": true})", 10);
  EXPECT_EQ(r.shape, ApiShape::kCohere);
  EXPECT_EQ(r.model, "m");
  EXPECT_EQ(r.input.documents, (std::vector<std::string>{"a", "b"}));
  ASSERT_TRUE(r.top_n.has_value());
  EXPECT_EQ(*r.top_n, 1u);
  EXPECT_TRUE(r.return_text);
  EXPECT_EQ(*parse_cohere_request(R"({"query": "q", "documents": ["a"], "top_n": 18446744073709551615})", 10).top_n,
            std::numeric_limits<size_t>::max());
}

TEST(RerankApi, ErrorKinds) {
  using K = Error::Kind;
  EXPECT_EQ(tei_error("{bad"), K::kInvalidInput);
  EXPECT_EQ(tei_error(""), K::kInvalidInput);
  EXPECT_EQ(tei_error("\"just a string\""), K::kUnprocessable);
  EXPECT_EQ(tei_error(R"({"texts": ["a"]})"), K::kInvalidInput);
  EXPECT_EQ(tei_error(R"({"query": "q"})"), K::kInvalidInput);
  EXPECT_EQ(tei_error(R"({"query": "q", "texts": []})"), K::kInvalidInput);
  EXPECT_EQ(tei_error(R"({"query": "q", "texts": ["a"], "documents": ["b"]})"), K::kInvalidInput);
  EXPECT_EQ(tei_error(R"({"query": ["q"], "texts": ["a"]})"), K::kUnprocessable);
  EXPECT_EQ(tei_error(R"({"query": "q", "texts": [null]})"), K::kUnprocessable);
  EXPECT_EQ(tei_error(R"({"query": "q", "texts": ["a"], "return_text": 1})"), K::kUnprocessable);
  EXPECT_EQ(tei_error(R"({"query": "q", "texts": ["a"], "truncation_direction": "middle"})"), K::kUnprocessable);
  EXPECT_EQ(tei_error(R"({"query": "q", "texts": ["a", "b", "c"]})", 2), K::kTooLarge);
  EXPECT_EQ(tei_error("{\"query\": \"\xff\", \"texts\": [\"a\"]}"), K::kInvalidInput);
  EXPECT_EQ(tei_error(R"({"query": "q", "texts": ["\udc00"]})"), K::kInvalidInput);

  EXPECT_EQ(cohere_error(R"({"query": "q"})"), K::kInvalidInput);
  EXPECT_EQ(cohere_error(R"({"query": "q", "documents": [{"title": "a"}]})"), K::kInvalidInput);
  EXPECT_EQ(cohere_error(R"({"query": "q", "documents": [{"text": 3}]})"), K::kUnprocessable);
  EXPECT_EQ(cohere_error(R"({"query": "q", "documents": ["a"], "top_n": 0})"), K::kUnprocessable);
  EXPECT_EQ(cohere_error(R"({"query": "q", "documents": ["a"], "top_n": -3})"), K::kUnprocessable);
  EXPECT_EQ(cohere_error(R"({"query": "q", "documents": ["a"], "top_n": "2"})"), K::kUnprocessable);
  EXPECT_EQ(cohere_error(R"({"query": "q", "documents": ["a", "b"]})", 1), K::kTooLarge);
}

simdjson::dom::element parse(const std::string& json) {
  static simdjson::dom::parser parser;
  return parser.parse(json);
}

// The scheduler's answer for `logits`; pair i used 10 + i tokens, and the odd ones were cut.
RerankOutput output_of(std::vector<float> logits, size_t total_tokens = 0) {
  RerankOutput out;
  for (size_t i = 0; i < logits.size(); ++i) out.usage.push_back({10 + i, i % 2 == 1});
  out.logits = std::move(logits);
  out.total_tokens = total_tokens;
  return out;
}

TEST(RerankApi, TeiResponseIsRankedBestFirstWithTiesInInputOrder) {
  RerankRequest r = parse_tei_request(R"({"query": "q", "texts": ["a", "b", "c", "d"], "return_text": true})", 10);
  r.texts = r.input.documents;
  const std::vector<float> logits{0.5f, 2.0f, std::nanf(""), 0.5f};
  const std::string body = rerank_response_body(r, output_of(logits), "", "");
  std::vector<int64_t> order;
  for (auto item : parse(body).get_array()) order.push_back(item["index"].get_int64());
  EXPECT_EQ(order, (std::vector<int64_t>{1, 0, 3, 2}));
  EXPECT_NEAR(double(parse(body).at(0)["score"]), 1 / (1 + std::exp(-2.0)), 1e-6);
  EXPECT_EQ(std::string_view(parse(body).at(0)["text"]), "b");
}

TEST(RerankApi, RawScoresArePlainLogits) {
  RerankRequest r = parse_tei_request(R"({"query": "q", "documents": ["a", "b"], "raw_scores": true})", 10);
  const std::string body = rerank_response_body(r, output_of({-1.5f, 3.25f}), "", "");
  EXPECT_EQ(body, R"({"scores":[-1.5,3.25]})");
}

TEST(RerankApi, CohereResponseCutsToTopN) {
  RerankRequest r =
      parse_cohere_request(R"({"query": "q", "documents": ["a", "b", "c"], "top_n": 2, "return_documents": true})", 10);
  r.texts = r.input.documents;
  const std::string body = rerank_response_body(r, output_of({0.f, 1.f, 2.f}, 42), "id-1", "tiny");
  const auto doc = parse(body);
  EXPECT_EQ(std::string_view(doc["id"]), "id-1");
  EXPECT_EQ(std::string_view(doc["model"]), "tiny");
  EXPECT_EQ(int64_t(doc["usage"]["total_tokens"]), 42);
  auto results = doc["results"].get_array();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(int64_t(results.at(0)["index"]), 2);
  EXPECT_EQ(std::string_view(results.at(0)["document"]["text"]), "c");
  EXPECT_EQ(int64_t(results.at(1)["index"]), 1);
}

TEST(RerankApi, CohereTopNKeepsTheFullRankingsOrderWithTiesAndNan) {
  RerankRequest r = parse_cohere_request(R"({"query": "q", "documents": ["a", "b", "c", "d", "e", "f"], "top_n": 4})", 10);
  const std::vector<float> logits{0.5f, std::nanf(""), 2.0f, 0.5f, 1.0f, 0.5f};
  std::vector<int64_t> order;
  for (auto item : parse(rerank_response_body(r, output_of(logits), "", ""))["results"].get_array()) {
    order.push_back(item["index"].get_int64());
  }
  EXPECT_EQ(order, (std::vector<int64_t>{2, 4, 0, 3}));
}

TEST(RerankApi, ReturnTokensAddsEachPairsTokensAndTruncationInEveryShape) {
  const RerankOutput out = output_of({0.f, 2.f, 1.f});
  const std::string_view texts = R"({"query": "q", "texts": ["a", "b", "c"], "return_tokens": true})";
  std::vector<std::pair<int64_t, bool>> tei;
  for (auto item : parse(rerank_response_body(parse_tei_request(texts, 10), out, "", "")).get_array()) {
    EXPECT_EQ(int64_t(item["tokens"]), 10 + int64_t(item["index"]));
    tei.emplace_back(int64_t(item["index"]), bool(item["truncated"]));
  }
  EXPECT_EQ(tei, (std::vector<std::pair<int64_t, bool>>{{1, true}, {2, false}, {0, false}}));

  const std::string_view plain = R"({"query": "q", "documents": ["a", "b", "c"], "raw_scores": true, "return_tokens": true})";
  EXPECT_EQ(rerank_response_body(parse_tei_request(plain, 10), out, "", ""),
            R"({"scores":[0,2,1],"tokens":[10,11,12],"truncated":[false,true,false]})");

  const std::string_view cohere = R"({"query": "q", "documents": ["a", "b", "c"], "top_n": 1, "return_tokens": true})";
  const auto results = parse(rerank_response_body(parse_cohere_request(cohere, 10), out, "id", "m"))["results"];
  EXPECT_EQ(int64_t(results.at(0)["tokens"]), 11);
  EXPECT_TRUE(bool(results.at(0)["truncated"]));

  // Off by default: the shapes stay what TEI and Cohere clients expect.
  EXPECT_EQ(rerank_response_body(parse_tei_request(R"({"query": "q", "documents": ["a"], "raw_scores": true})", 10),
                                 output_of({0.f}), "", ""),
            R"({"scores":[0]})");
  EXPECT_THROW(parse_cohere_request(R"({"query": "q", "documents": ["a"], "return_tokens": 1})", 10), Error);
}

}  // namespace
}  // namespace rerankd::server
