#pragma once
// What `rerankd bench` sends: request bodies built from flags (documents per request, words per
// document, words per query) or read from a JSONL file of bodies, each with its route and its
// number of (query, document) pairs.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rerankd::tools {

struct BenchRequest {
  std::string path;  // "/rerank" or "/v1/rerank"
  std::string body;
  size_t pairs = 0;  // documents in the body
};

enum class BenchApi { kTei, kPlain, kCohere };

struct SyntheticWorkload {
  BenchApi api = BenchApi::kTei;
  size_t docs_per_request = 16;
  size_t doc_words = 64;  // XLM-R makes ~1.3 tokens of an English word; the words are real ones
  size_t query_words = 8;
  size_t distinct = 64;   // different bodies, sent round-robin
  uint64_t seed = 1;
  std::string model;  // the "model" field of every body; empty: none (the server's first model)
};

// Route for an API shape: /rerank (TEI and plain) or /v1/rerank (Cohere).
const char* bench_path(BenchApi api);

std::vector<BenchRequest> synthetic_requests(const SyntheticWorkload& workload);

// One request body (a JSON object with "texts" or "documents") per non-blank line, all sent to
// `path`. Throws Error naming the file and line when a line is not such a body.
std::vector<BenchRequest> read_requests_file(const std::string& file, const std::string& path);

}  // namespace rerankd::tools
