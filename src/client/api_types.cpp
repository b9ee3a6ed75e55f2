#include "client/api_types.h"

#include <simdjson.h>

#include <limits>

#include "common/error.h"
#include "common/json_writer.h"

namespace rerankd::client {
namespace {

namespace dom = simdjson::dom;

[[noreturn]] void malformed(std::string_view what) {
  throw Error(Error::Kind::kInternal, "malformed response from the server: " + std::string(what));
}

void write_strings(JsonWriter& w, std::string_view key, const std::vector<std::string>& items) {
  w.key(key).begin_array();
  for (const auto& item : items) w.value(std::string_view(item));
  w.end_array();
}

void write_truncation(JsonWriter& w, const std::optional<bool>& truncate,
                      const std::optional<TruncationDirection>& direction) {
  if (truncate) w.key("truncate").value(*truncate);
  if (direction) w.key("truncation_direction").value(*direction == TruncationDirection::kLeft ? "Left" : "Right");
}

// One parser per thread, reused: its buffers are sized once instead of per response. The element
// returned stays valid until this thread parses again (each caller is done with it by then).
dom::element parse(std::string_view body) {
  thread_local dom::parser parser;
  dom::element root;
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) malformed("not JSON");
  return root;
}

double number(const dom::element& e, std::string_view what) {
  double d = 0;
  if (e.is_null()) return std::numeric_limits<double>::quiet_NaN();  // the server writes NaN as null
  if (e.get_double().get(d) != simdjson::SUCCESS) malformed(std::string(what) + " is not a number");
  return d;
}

size_t index_of(const dom::object& o, std::string_view what) {
  uint64_t i = 0;
  if (o["index"].get_uint64().get(i) != simdjson::SUCCESS) malformed(std::string(what) + " has no integer \"index\"");
  return static_cast<size_t>(i);
}

}  // namespace

std::string to_json(const RerankRequest& r) {
  JsonWriter w;
  w.begin_object();
  if (!r.model.empty()) w.key("model").value(std::string_view(r.model));
  w.key("query").value(std::string_view(r.query));
  write_strings(w, "texts", r.texts);
  if (r.raw_scores) w.key("raw_scores").value(true);
  if (r.return_text) w.key("return_text").value(true);
  write_truncation(w, r.truncate, r.truncation_direction);
  w.end_object();
  return w.take();
}

std::string to_json(const ScoreRequest& r) {
  JsonWriter w;
  w.begin_object();
  if (!r.model.empty()) w.key("model").value(std::string_view(r.model));
  w.key("query").value(std::string_view(r.query));
  write_strings(w, "documents", r.documents);
  if (r.raw_scores) w.key("raw_scores").value(true);
  write_truncation(w, r.truncate, r.truncation_direction);
  w.end_object();
  return w.take();
}

std::string to_json(const RerankV1Request& r) {
  JsonWriter w;
  w.begin_object();
  if (!r.model.empty()) w.key("model").value(std::string_view(r.model));
  w.key("query").value(std::string_view(r.query));
  write_strings(w, "documents", r.documents);
  if (r.top_n) w.key("top_n").value(static_cast<uint64_t>(*r.top_n));
  if (r.return_documents) w.key("return_documents").value(true);
  w.end_object();
  return w.take();
}

RerankResponse parse_rerank_response(std::string_view body) {
  dom::array items;
  if (parse(body).get_array().get(items) != simdjson::SUCCESS) malformed("expected a JSON array of results");
  RerankResponse out;
  out.reserve(items.size());
  for (dom::element item : items) {
    dom::object o;
    if (item.get_object().get(o) != simdjson::SUCCESS) malformed("a result is not an object");
    RankedText r;
    r.index = index_of(o, "a result");
    dom::element score;
    if (o["score"].get(score) != simdjson::SUCCESS) malformed("a result has no \"score\"");
    r.score = number(score, "\"score\"");
    std::string_view text;
    if (o["text"].get_string().get(text) == simdjson::SUCCESS) r.text = std::string(text);
    out.push_back(std::move(r));
  }
  return out;
}

ScoreResponse parse_score_response(std::string_view body) {
  dom::array scores;
  if (parse(body)["scores"].get_array().get(scores) != simdjson::SUCCESS) {
    malformed("expected {\"scores\": [...]}");
  }
  ScoreResponse out;
  out.reserve(scores.size());
  for (dom::element s : scores) out.push_back(number(s, "a score"));
  return out;
}

RerankV1Response parse_rerank_v1_response(std::string_view body) {
  dom::object root;
  if (parse(body).get_object().get(root) != simdjson::SUCCESS) malformed("expected a JSON object");
  RerankV1Response out;
  std::string_view text;
  if (root["id"].get_string().get(text) == simdjson::SUCCESS) out.id = std::string(text);
  if (root["model"].get_string().get(text) == simdjson::SUCCESS) out.model = std::string(text);
  uint64_t tokens = 0;
  if (root.at_pointer("/usage/total_tokens").get_uint64().get(tokens) == simdjson::SUCCESS) out.total_tokens = tokens;
  dom::array results;
  if (root["results"].get_array().get(results) != simdjson::SUCCESS) malformed("no \"results\" array");
  for (dom::element item : results) {
    dom::object o;
    if (item.get_object().get(o) != simdjson::SUCCESS) malformed("a result is not an object");
    RerankV1Result r;
    r.index = index_of(o, "a result");
    dom::element score;
    if (o["relevance_score"].get(score) != simdjson::SUCCESS) malformed("a result has no \"relevance_score\"");
    r.relevance_score = number(score, "\"relevance_score\"");
    dom::element document;
    if (o["document"].get(document) == simdjson::SUCCESS) {
      // {"text": "..."} (Cohere, Jina) or a bare string.
      if (document.get_string().get(text) == simdjson::SUCCESS ||
          document["text"].get_string().get(text) == simdjson::SUCCESS) {
        r.document = std::string(text);
      }
    }
    out.results.push_back(std::move(r));
  }
  return out;
}

size_t count_documents(std::string_view request_body) {
  dom::parser parser;
  dom::element root;
  dom::object o;
  if (parser.parse(request_body.data(), request_body.size()).get(root) != simdjson::SUCCESS ||
      root.get_object().get(o) != simdjson::SUCCESS) {
    throw Error(Error::Kind::kInvalidInput, "not a JSON object");
  }
  dom::array documents;
  if (o["texts"].get_array().get(documents) == simdjson::SUCCESS ||
      o["documents"].get_array().get(documents) == simdjson::SUCCESS) {
    return documents.size();
  }
  throw Error(Error::Kind::kInvalidInput, "has no \"texts\" or \"documents\" array");
}

}  // namespace rerankd::client
