#pragma once
// What a rerank request is and what it gets back, as the scheduler sees it (the server's JSON
// shapes map onto these in server/rerank_api.h).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/error.h"
#include "engine/clock.h"
#include "engine/document_chunks.h"

namespace rerankd {

struct RerankInput {
  std::string query;
  std::vector<std::string> documents;
  bool truncate = true;                   // false: a pair longer than the model allows is refused (422)
  TruncationSide truncation_side = TruncationSide::kRight;
  std::optional<TruncationRule> truncation;  // nullopt: the server's
  ChunkRequest chunks;                       // fields not given: the server's
  bool return_chunks = false;                // the winning window's bytes are wanted (needs token spans)
  // A decoder reranker's task instruction (Qwen3-Reranker's <Instruct>, mxbai's instruction, the
  // bge-gemma prompt); empty: the model's default. Encoders take none.
  std::string instruction;
  Clock::time_point deadline = Clock::time_point::max();
  // Who sent it (an API key's id, or a client address): the model's time is shared fairly between
  // tenants. Empty: the one default tenant.
  std::string tenant;
};

// What one document's pairs cost: their tokens as run (special tokens included, after truncation;
// all its chunks with chunks) and whether any of the document or the query is in no pair.
struct PairUsage {
  size_t tokens = 0;
  bool truncated = false;
};

// Which of a document's pairs gave its score: with chunks, the best window.
struct ChunkChoice {
  uint32_t index = 0, count = 1;
  uint32_t char_start = 0, char_end = 0;  // the bytes of the document that window holds
};

struct RerankOutput {
  std::vector<float> logits;        // one per document, in input order: the best of its pairs
  std::vector<PairUsage> usage;     // one per document, in input order
  std::vector<ChunkChoice> chunks;  // per document
  size_t total_tokens = 0;          // tokens of all pairs (chunks included), special tokens included
  size_t cached_pairs = 0;          // pairs answered by the score cache
  double queue_seconds = 0;         // admission to the first pass that ran one of its pairs
  double inference_seconds = 0;     // summed forward time of the passes that carried its pairs
};

// Either the scores or the error (kTimeout, kUnprocessable, kOverloaded with a retry-after,
// kTooLarge when it could not make its deadline even on an idle server, kUnavailable, kInternal,
// or the backend's own Kind).
using RerankResult = std::variant<RerankOutput, Error>;
// Runs once, on a scheduler thread (or the caller's, for a cancel). It must not throw: the
// scheduler could tell nobody (the callback is how the request is answered); one that does ends
// the process (it runs in a noexcept frame).
using RerankCallback = std::function<void(RerankResult)>;

}  // namespace rerankd
