#include "tools/bench_workload.h"

#include <fstream>
#include <random>

#include "client/api_types.h"
#include "common/error.h"

namespace rerankd::tools {
namespace {

// Common English words: enough variety that documents differ and tokenize like prose.
constexpr const char* kWords[] = {
    "the", "of", "and", "to", "in", "is", "for", "that", "with", "as", "on", "was", "by", "are", "from", "it",
    "this", "be", "at", "or", "an", "which", "have", "has", "not", "but", "their", "they", "one", "all", "can",
    "were", "more", "also", "its", "been", "other", "new", "some", "these", "when", "than", "into", "only",
    "time", "first", "two", "most", "such", "over", "used", "many", "after", "where", "between", "system",
    "model", "data", "search", "query", "document", "result", "ranking", "language", "network", "training",
    "memory", "server", "request", "latency", "throughput", "panda", "bamboo", "mountain", "river", "forest",
    "climate", "energy", "market", "history", "science", "music", "health", "city", "water", "protein", "cell",
    "planet", "orbit", "engine", "battery", "signal", "vector", "matrix", "library", "compiler", "kernel",
    "thread", "socket", "cache", "storage", "index", "score", "token", "sentence", "meaning", "answer",
    "question", "research", "study", "method", "process", "design", "value", "number", "small", "large",
    "quickly", "slowly", "because", "while", "during", "against", "without", "within", "across", "through",
};
constexpr size_t kWordCount = sizeof kWords / sizeof kWords[0];

std::string words(std::mt19937_64& rng, size_t n) {
  std::uniform_int_distribution<size_t> pick(0, kWordCount - 1);
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += ' ';
    out += kWords[pick(rng)];
  }
  return out;
}

}  // namespace

const char* bench_path(BenchApi api) { return api == BenchApi::kCohere ? "/v1/rerank" : "/rerank"; }

std::vector<BenchRequest> synthetic_requests(const SyntheticWorkload& w) {
  if (w.docs_per_request == 0) throw Error(Error::Kind::kInvalidInput, "--docs-per-request must be at least 1");
  std::mt19937_64 rng(w.seed);
  std::vector<BenchRequest> out;
  for (size_t k = 0; k < std::max<size_t>(1, w.distinct); ++k) {
    std::string query = words(rng, std::max<size_t>(1, w.query_words));
    std::vector<std::string> docs;
    for (size_t d = 0; d < w.docs_per_request; ++d) docs.push_back(words(rng, std::max<size_t>(1, w.doc_words)));
    std::string body;
    switch (w.api) {
      case BenchApi::kTei:
        body = client::to_json(client::RerankRequest{.query = query, .texts = docs, .model = w.model});
        break;
      case BenchApi::kPlain:
        body = client::to_json(client::ScoreRequest{.query = query, .documents = docs, .model = w.model});
        break;
      case BenchApi::kCohere:
        body = client::to_json(client::RerankV1Request{.query = query, .documents = docs, .model = w.model});
        break;
    }
    out.push_back({bench_path(w.api), std::move(body), w.docs_per_request});
  }
  return out;
}

std::vector<BenchRequest> read_requests_file(const std::string& file, const std::string& path) {
  std::ifstream in(file);
  if (!in) throw Error(Error::Kind::kIo, file + ": cannot open");
  std::vector<BenchRequest> out;
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      const size_t pairs = client::count_documents(line);
      out.push_back({path, std::move(line), pairs});
    } catch (const Error& e) {
      throw Error(Error::Kind::kInvalidInput, file + ":" + std::to_string(number) + ": " + e.what());
    }
  }
  if (out.empty()) throw Error(Error::Kind::kInvalidInput, file + ": no request bodies");
  return out;
}

}  // namespace rerankd::tools
