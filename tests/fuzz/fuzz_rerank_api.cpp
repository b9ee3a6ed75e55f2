// The request parsers of every route that reads a body or a header, and the response each parsed
// request gets. Parsing must return a request or throw Error; a parsed request's response body must
// be valid JSON (it echoes the client's texts) with one result per document (top_n for Cohere).
//
// Input: byte 0 picks the parser (TEI/plain /rerank, Cohere /v1/rerank, the X-Request-Id and
// Authorization headers), the rest is the body or header value.
#include <simdjson.h>

#include <string>

#include "common/error.h"
#include "fuzz_support.h"
#include "server/api_keys.h"
#include "server/request_id.h"
#include "server/rerank_api.h"

namespace {

using namespace rerankd;
using namespace rerankd::server;

constexpr size_t kMaxDocuments = 64;

void check_response(RerankRequest request) {
  if (request.return_text) request.texts = request.input.documents;  // as the handler does
  const size_t n = request.input.documents.size();
  RerankOutput output;
  output.logits.resize(n);
  for (size_t i = 0; i < n; ++i) output.logits[i] = static_cast<float>(request.input.documents[i].size() % 7) - 3.f;
  output.usage.resize(n);
  output.chunks.resize(n);
  output.total_tokens = 17;
  const std::string body = rerank_response_body(request, output, new_request_id(), "fuzz-model");
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body).get(doc) != simdjson::SUCCESS) __builtin_trap();
  simdjson::dom::array results;
  size_t expected = n;
  switch (request.shape) {
    case ApiShape::kTei: results = doc.get_array().value_unsafe(); break;
    case ApiShape::kPlain: results = doc["scores"].get_array().value_unsafe(); break;
    case ApiShape::kCohere:
      results = doc["results"].get_array().value_unsafe();
      expected = std::min(n, request.top_n.value_or(n));
      break;
  }
  if (results.size() != expected) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view input = fuzz::as_text(data + 1, size - 1);
  try {
    switch (data[0] % 4) {
      case 0: check_response(parse_tei_request(input, kMaxDocuments)); break;
      case 1: check_response(parse_cohere_request(input, kMaxDocuments)); break;
      case 2: {
        // Echoed in a response header and written to logs: short printable ASCII only.
        const std::string id = request_id_for(input);
        if (id.empty() || id.size() > 128) __builtin_trap();
        for (char c : id) {
          if (c < 0x21 || c > 0x7e) __builtin_trap();
        }
        break;
      }
      case 3: {
        static const ApiKeys keys({"fuzz-key-1", "  another key\n"});
        const bool allowed = keys.allows(input);
        if (allowed && input.find("fuzz-key-1") == std::string_view::npos && input.find("another key") == std::string_view::npos) {
          __builtin_trap();
        }
        break;
      }
    }
  } catch (const Error&) {
  }
  return 0;
}
