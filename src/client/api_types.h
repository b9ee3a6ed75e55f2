#pragma once
// The three request shapes rerankd serves, as plain structs, and their JSON both ways. Pure
// functions of bytes: no I/O here, so they are tested on their own.
//
//   RerankRequest    POST /rerank {"query", "texts", ...}        -> RerankResponse: [{index, score, text?}], best first
//   ScoreRequest     POST /rerank {"query", "documents", ...}    -> ScoreResponse: {"scores": [...]}, input order
//   RerankV1Request  POST /v1/rerank {"query", "documents", "top_n"?, "return_documents"?, "model"?}
//                                                                -> RerankV1Response {id, model, results, usage}
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rerankd::client {

// Per call: both optional. Every call has a deadline (the client's request_timeout unless set
// here) covering waiting for a connection, every attempt and every backoff; the server is told
// the time left in X-Request-Timeout so it drops work nobody will wait for.
struct CallOptions {
  std::optional<std::chrono::milliseconds> timeout{};
  std::string request_id{};  // sent as X-Request-Id; the server makes one up when empty
};

enum class TruncationDirection { kRight, kLeft };

// TEI's /rerank: every document scored, results best first.
struct RerankRequest {
  std::string query{};
  std::vector<std::string> texts{};
  bool raw_scores = false;   // logits instead of sigmoid scores
  bool return_text = false;  // echo each text in its result
  std::optional<bool> truncate{};  // server default (true): over-long pairs are cut to the model's length
  std::optional<TruncationDirection> truncation_direction{};
  std::string model{};  // which of the server's models; empty: its first (TEI serves one)
  CallOptions call{};
};

struct RankedText {
  size_t index = 0;  // position in RerankRequest::texts
  double score = 0;
  std::optional<std::string> text{};
};
using RerankResponse = std::vector<RankedText>;  // best first

// The plain shape: one score per document, in input order.
struct ScoreRequest {
  std::string query{};
  std::vector<std::string> documents{};
  bool raw_scores = false;
  std::optional<bool> truncate{};
  std::optional<TruncationDirection> truncation_direction{};
  std::string model{};  // which of the server's models; empty: its first
  CallOptions call{};
};
using ScoreResponse = std::vector<double>;

// Cohere/Jina's /v1/rerank: top_n and returned documents.
struct RerankV1Request {
  std::string query{};
  std::vector<std::string> documents{};
  std::optional<size_t> top_n{};  // only the n best come back
  bool return_documents = false;
  std::string model{};            // which of the server's models; empty: its first (with one model, any name)
  CallOptions call{};
};

struct RerankV1Result {
  size_t index = 0;
  double relevance_score = 0;
  std::optional<std::string> document{};
};

struct RerankV1Response {
  std::string id{};
  std::string model{};
  std::vector<RerankV1Result> results{};  // best first
  uint64_t total_tokens = 0;
};

std::string to_json(const RerankRequest& request);
std::string to_json(const ScoreRequest& request);
std::string to_json(const RerankV1Request& request);

// Each throws Error(kInternal) naming what is wrong when the body is not the documented shape.
RerankResponse parse_rerank_response(std::string_view body);
ScoreResponse parse_score_response(std::string_view body);
RerankV1Response parse_rerank_v1_response(std::string_view body);

// How many documents a request body carries ("texts" or "documents"); for a load generator that
// sends bodies it did not build. Throws Error(kInvalidInput) when the body is not such a request.
size_t count_documents(std::string_view request_body);

}  // namespace rerankd::client
