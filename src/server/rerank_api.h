#pragma once
// The three request/response shapes of the rerank endpoints, as pure functions of bytes: parsing
// and validation (simdjson) on the way in, JSON text (JsonWriter) on the way out.
//
//   POST /rerank with "texts"      TEI:    {query, texts, raw_scores?, return_text?, truncate?,
//                                           truncation_direction?, return_tokens?}
//                                  -> [{index, score, text?, tokens?, truncated?}] best first
//   POST /rerank with "documents"  plain:  {query, documents, return_tokens?}
//                                  -> {scores: [...], tokens?: [...], truncated?: [...]} in input order
//   POST /v1|v2/rerank             Cohere/Jina: {model?, query, documents (strings or {text}),
//                                           top_n?, return_documents?, return_tokens?}
//                                  -> {id, model, results: [{index, relevance_score, document?, tokens?,
//                                      truncated?}], usage}
// Every shape also takes model (which of the served models; absent: the first), truncation
// ("longest_first" | "flagembedding"), max_chunks_per_doc, max_tokens_per_doc,
// chunk_overlap_tokens and return_chunks (each result then carries "chunk": {index, count,
// char_start, char_end}; the plain shape gets "chunks" beside "scores").
//
// Validation errors are thrown as Error: kInvalidInput (400) for malformed JSON, invalid UTF-8 and
// missing or empty required fields; kUnprocessable (422) for fields of the wrong type or value;
// kTooLarge (413) for more documents than max_documents. The chunk and truncation fields follow
// the shared contract instead: a wrong JSON type is 400, a value out of range 422.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/scheduler.h"

namespace rerankd::server {

enum class ApiShape { kTei, kPlain, kCohere };

struct RerankRequest {
  ApiShape shape = ApiShape::kTei;
  RerankInput input;
  bool raw_scores = false;      // report logits instead of sigmoid scores (TEI, plain)
  bool return_text = false;     // TEI return_text / Cohere return_documents
  bool return_tokens = false;   // each document's tokens and whether truncation cut it
  bool return_chunks = false;   // each result says which window of its document gave the score
  std::optional<size_t> top_n;  // Cohere: keep the best n
  std::string model;            // the model the client named; empty: the server's first
  // The documents again, for responses that echo them: input.documents moves into the scheduler.
  std::vector<std::string> texts;
};

RerankRequest parse_tei_request(std::string_view body, size_t max_documents);
RerankRequest parse_cohere_request(std::string_view body, size_t max_documents);

// `response_id` and `model_name` are for the Cohere shape.
std::string rerank_response_body(const RerankRequest& request, const RerankOutput& output,
                                 std::string_view response_id, std::string_view model_name);

}  // namespace rerankd::server
