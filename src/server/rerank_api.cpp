#include "server/rerank_api.h"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "common/error.h"
#include "common/json_writer.h"
#include "engine/reranker.h"

namespace rerankd::server {
namespace {

namespace dom = simdjson::dom;

[[noreturn]] void invalid(const std::string& message) { throw Error(Error::Kind::kInvalidInput, message); }
[[noreturn]] void unprocessable(const std::string& message) { throw Error(Error::Kind::kUnprocessable, message); }

std::string quoted(std::string_view name) {
  std::string out;  // not '"' + std::string(name): GCC 12 flags that with a false -Wrestrict
  out.reserve(name.size() + 2);
  out.append(1, '"').append(name).append(1, '"');
  return out;
}

// The returned object lives in a per-thread parser: valid until this thread parses again, which
// is after the caller has copied out what it needs.
dom::object parse_object(std::string_view body) {
  thread_local dom::parser parser;
  dom::element doc;
  if (const auto err = parser.parse(body.data(), body.size()).get(doc); err != simdjson::SUCCESS) {
    if (err == simdjson::UTF8_ERROR) invalid("the request body is not valid UTF-8");
    if (err == simdjson::EMPTY) invalid("the request body is empty; expected a JSON object");
    invalid(std::string("malformed JSON: ") + simdjson::error_message(err));
  }
  dom::object object;
  if (doc.get_object().get(object) != simdjson::SUCCESS) unprocessable("the request body must be a JSON object");
  return object;
}

// A field that is absent or null is "not given": clients often send null for defaults.
std::optional<dom::element> field(const dom::object& object, std::string_view name) {
  dom::element e;
  if (object.at_key(name).get(e) != simdjson::SUCCESS || e.is_null()) return std::nullopt;
  return e;
}

// `what` names the value in error messages; it is a callable so that a document's name
// ("texts[17]") is only built when something is wrong, not once per document.
template <typename Name>
std::string text_of(const dom::element& e, Name&& what) {
  std::string_view s;
  if (e.get_string().get(s) != simdjson::SUCCESS) unprocessable(what() + " must be a string");
  // The document's bytes were validated on parse, but a \u escape can still spell a lone
  // surrogate; the tokenizer must never see ill-formed UTF-8.
  if (!simdjson::validate_utf8(s.data(), s.size())) invalid(what() + " is not valid UTF-8");
  return std::string(s);
}

std::string required_string(const dom::object& object, std::string_view name) {
  const auto e = field(object, name);
  if (!e) invalid("missing field " + quoted(name));
  return text_of(*e, [&] { return "field " + quoted(name); });
}

bool optional_bool(const dom::object& object, std::string_view name, bool fallback) {
  const auto e = field(object, name);
  if (!e) return fallback;
  bool b = fallback;
  if (e->get_bool().get(b) != simdjson::SUCCESS) unprocessable("field " + quoted(name) + " must be true or false");
  return b;
}

// A non-empty array of strings (and, where `objects` allows, {"text": "..."} objects), at most
// `max_documents` long.
std::vector<std::string> documents_of(const dom::element& e, std::string_view name, size_t max_documents,
                                      bool objects) {
  const std::string what = "field " + quoted(name);
  dom::array array;
  if (e.get_array().get(array) != simdjson::SUCCESS) {
    unprocessable(what + (objects ? " must be an array of strings or {\"text\": ...} objects" : " must be an array of strings"));
  }
  const size_t n = array.size();
  if (n == 0) invalid(what + " must not be empty");
  if (n > max_documents) {
    throw Error(Error::Kind::kTooLarge, std::to_string(n) + " documents exceed the limit of " +
                                            std::to_string(max_documents) + " per request (--max-client-batch-size)");
  }
  std::vector<std::string> out;
  out.reserve(n);
  for (dom::element item : array) {
    const size_t index = out.size();
    const auto where = [&] { return std::string(name) + "[" + std::to_string(index) + "]"; };
    dom::object object;
    if (objects && item.get_object().get(object) == simdjson::SUCCESS) {
      const auto text = field(object, "text");
      if (!text) invalid(where() + " has no \"text\"");
      out.push_back(text_of(*text, [&] { return where() + ".text"; }));
    } else {
      out.push_back(text_of(item, where));
    }
  }
  return out;
}

TruncationSide truncation_side(const dom::object& object) {
  const auto e = field(object, "truncation_direction");
  if (!e) return TruncationSide::kRight;
  const std::string side = text_of(*e, [] { return std::string("field \"truncation_direction\""); });
  if (side == "Right" || side == "right") return TruncationSide::kRight;
  if (side == "Left" || side == "left") return TruncationSide::kLeft;
  unprocessable("field \"truncation_direction\" must be \"Right\" or \"Left\"");
}

// An optional integer of at least `minimum`; a JSON number beyond 64 bits counts as the largest.
std::optional<size_t> optional_count(const dom::object& object, std::string_view name, size_t minimum) {
  const auto e = field(object, name);
  if (!e) return std::nullopt;
  int64_t n = 0;
  uint64_t big = 0;
  if (e->get_int64().get(n) == simdjson::SUCCESS) {
    if (n < static_cast<int64_t>(minimum)) {
      unprocessable("field " + quoted(name) + " must be at least " + std::to_string(minimum));
    }
    return static_cast<size_t>(n);
  }
  if (e->get_uint64().get(big) == simdjson::SUCCESS) return std::numeric_limits<size_t>::max();
  invalid("field " + quoted(name) + " must be an integer");
}

// The fields every shape shares: the model, how pairs are cut or chunked, and whether to say
// which chunk won.
void shared_options(const dom::object& object, RerankRequest& r) {
  if (const auto model = field(object, "model")) r.model = text_of(*model, [] { return std::string("field \"model\""); });
  if (const auto e = field(object, "truncation")) {
    std::string_view name;
    if (e->get_string().get(name) != simdjson::SUCCESS) invalid("field \"truncation\" must be a string");
    r.input.truncation = truncation_rule_named(name);
    if (!r.input.truncation) unprocessable("field \"truncation\" must be \"longest_first\" or \"flagembedding\"");
  }
  r.input.chunks.max_chunks = optional_count(object, "max_chunks_per_doc", 1).value_or(0);
  r.input.chunks.max_document_tokens = optional_count(object, "max_tokens_per_doc", 1).value_or(0);
  r.input.chunks.overlap = optional_count(object, "chunk_overlap_tokens", 0);
  r.return_chunks = optional_bool(object, "return_chunks", false);
  r.input.return_chunks = r.return_chunks;
  if (const auto instruction = field(object, "instruction")) {
    r.input.instruction = text_of(*instruction, [] { return std::string("field \"instruction\""); });
  }
}

void write_chunk(JsonWriter& w, const std::vector<ChunkChoice>& chunks, size_t i) {
  const ChunkChoice& c = chunks.at(i);
  w.begin_object();
  w.key("index").value(static_cast<uint64_t>(c.index));
  w.key("count").value(static_cast<uint64_t>(c.count));
  w.key("char_start").value(static_cast<uint64_t>(c.char_start));
  w.key("char_end").value(static_cast<uint64_t>(c.char_end));
  w.end_object();
}

// The indices of the `count` best logits, best first; NaN ranks last, ties keep request order.
// A partial sort: /v1/rerank's top_n of a 1000-document request sorts only what it returns.
std::vector<size_t> ranking(const std::vector<float>& logits, size_t count) {
  std::vector<size_t> order(logits.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::vector<float> keys(logits.size());  // NaN as -inf, so it ranks last rather than breaking the sort
  for (size_t i = 0; i < logits.size(); ++i) {
    keys[i] = std::isnan(logits[i]) ? -std::numeric_limits<float>::infinity() : logits[i];
  }
  const auto better = [&](size_t a, size_t b) { return keys[a] > keys[b] || (keys[a] == keys[b] && a < b); };
  count = std::min(count, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(count), order.end(), better);
  order.resize(count);
  return order;
}

}  // namespace

RerankRequest parse_tei_request(std::string_view body, size_t max_documents) {
  const dom::object object = parse_object(body);
  RerankRequest r;
  r.input.query = required_string(object, "query");
  const auto texts = field(object, "texts");
  const auto documents = field(object, "documents");
  if (texts && documents) invalid("give either \"texts\" or \"documents\", not both");
  if (!texts && !documents) invalid("missing field \"texts\"");
  r.shape = texts ? ApiShape::kTei : ApiShape::kPlain;
  r.input.documents = documents_of(texts ? *texts : *documents, texts ? "texts" : "documents", max_documents, false);
  r.raw_scores = optional_bool(object, "raw_scores", false);
  r.return_text = r.shape == ApiShape::kTei && optional_bool(object, "return_text", false);
  r.input.truncate = optional_bool(object, "truncate", true);
  r.input.truncation_side = truncation_side(object);
  r.return_tokens = optional_bool(object, "return_tokens", false);
  shared_options(object, r);
  return r;
}

RerankRequest parse_cohere_request(std::string_view body, size_t max_documents) {
  const dom::object object = parse_object(body);
  RerankRequest r;
  r.shape = ApiShape::kCohere;
  r.input.query = required_string(object, "query");
  const auto documents = field(object, "documents");
  if (!documents) invalid("missing field \"documents\"");
  r.input.documents = documents_of(*documents, "documents", max_documents, true);
  if (const auto top_n = field(object, "top_n")) {
    int64_t n = 0;
    uint64_t big = 0;
    if (top_n->get_int64().get(n) == simdjson::SUCCESS) {
      if (n < 1) unprocessable("field \"top_n\" must be at least 1");
      r.top_n = static_cast<size_t>(n);
    } else if (top_n->get_uint64().get(big) == simdjson::SUCCESS) {
      r.top_n = std::numeric_limits<size_t>::max();
    } else {
      unprocessable("field \"top_n\" must be a positive integer");
    }
  }
  r.return_text = optional_bool(object, "return_documents", false);
  r.return_tokens = optional_bool(object, "return_tokens", false);
  shared_options(object, r);
  return r;
}

std::string rerank_response_body(const RerankRequest& request, const RerankOutput& output,
                                 std::string_view response_id, std::string_view model_name) {
  const std::vector<float>& logits = output.logits;
  const auto usage_of = [&](JsonWriter& w, size_t i) {
    if (!request.return_tokens) return;
    w.key("tokens").value(static_cast<uint64_t>(output.usage.at(i).tokens));
    w.key("truncated").value(output.usage.at(i).truncated);
  };
  JsonWriter w;
  switch (request.shape) {
    case ApiShape::kPlain: {
      w.begin_object().key("scores").begin_array();
      for (float logit : logits) w.value(request.raw_scores ? logit : sigmoid(logit));
      w.end_array();
      if (request.return_tokens) {
        w.key("tokens").begin_array();
        for (const PairUsage& u : output.usage) w.value(static_cast<uint64_t>(u.tokens));
        w.end_array().key("truncated").begin_array();
        for (const PairUsage& u : output.usage) w.value(u.truncated);
        w.end_array();
      }
      if (request.return_chunks) {
        w.key("chunks").begin_array();
        for (size_t i = 0; i < logits.size(); ++i) write_chunk(w, output.chunks, i);
        w.end_array();
      }
      w.end_object();
      break;
    }
    case ApiShape::kTei: {
      w.begin_array();
      for (size_t i : ranking(logits, logits.size())) {
        w.begin_object();
        w.key("index").value(static_cast<uint64_t>(i));
        w.key("score").value(request.raw_scores ? logits[i] : sigmoid(logits[i]));
        if (request.return_text) w.key("text").value(request.texts.at(i));
        usage_of(w, i);
        if (request.return_chunks) write_chunk(w.key("chunk"), output.chunks, i);
        w.end_object();
      }
      w.end_array();
      break;
    }
    case ApiShape::kCohere: {
      w.begin_object();
      w.key("id").value(response_id);
      w.key("model").value(model_name);
      w.key("results").begin_array();
      for (size_t i : ranking(logits, request.top_n.value_or(logits.size()))) {
        w.begin_object();
        w.key("index").value(static_cast<uint64_t>(i));
        w.key("relevance_score").value(sigmoid(logits[i]));
        if (request.return_text) w.key("document").begin_object().key("text").value(request.texts.at(i)).end_object();
        usage_of(w, i);
        if (request.return_chunks) write_chunk(w.key("chunk"), output.chunks, i);
        w.end_object();
      }
      w.end_array();
      w.key("usage").begin_object().key("total_tokens").value(static_cast<uint64_t>(output.total_tokens)).end_object();
      w.end_object();
      break;
    }
  }
  return w.take();
}

}  // namespace rerankd::server
