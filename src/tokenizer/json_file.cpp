#include "tokenizer/json_file.h"

#include <fstream>
#include <sstream>

#include "common/error.h"

namespace rerankd {
namespace {

// transformers writes int(1e30) as model_max_length when a tokenizer has no limit of its own.
constexpr double kNoLimit = 1e15;

// simdjson refuses integers beyond 64 bits, and transformers writes int(1e30) as a 31-digit
// integer: such values after a ':' are made floats ("...656.0"), which parse as doubles.
void widen_big_integers(std::string& text) {
  for (size_t i = text.find(':'); i != std::string::npos; i = text.find(':', i + 1)) {
    size_t begin = i + 1;
    while (begin < text.size() && (text[begin] == ' ' || text[begin] == '\n' || text[begin] == '\t')) ++begin;
    size_t end = begin;
    while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
    const bool followed_by_fraction = end < text.size() && (text[end] == '.' || text[end] == 'e' || text[end] == 'E');
    if (end - begin > 19 && !followed_by_fraction) text.insert(end, ".0");
  }
}

}  // namespace

bool JsonFile::open(const std::filesystem::path& path) {
  path_ = path;
  if (!std::filesystem::exists(path)) return false;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(Error::Kind::kIo, path.string() + ": cannot open");
  std::stringstream buffer;
  buffer << in.rdbuf();
  text_ = buffer.str();
  widen_big_integers(text_);
  simdjson::dom::element doc;
  if (auto err = parser_.parse(text_).get(doc); err != simdjson::SUCCESS) {
    throw Error(Error::Kind::kModelFormat, path.string() + ": not valid JSON (" + simdjson::error_message(err) + ")");
  }
  if (doc.get_object().get(root_) != simdjson::SUCCESS) {
    throw Error(Error::Kind::kModelFormat, path.string() + ": top level must be a JSON object");
  }
  return true;
}

void JsonFile::fail(const std::string& field, const std::string& why) const {
  throw Error(Error::Kind::kModelFormat, path_.string() + ": field '" + field + "' " + why);
}

std::optional<simdjson::dom::element> JsonFile::field(simdjson::dom::object object, const char* name) const {
  simdjson::dom::element e;
  if (object[name].get(e) != simdjson::SUCCESS || e.is_null()) return std::nullopt;
  return e;
}

std::optional<bool> JsonFile::boolean(simdjson::dom::object object, const char* name, const std::string& where) const {
  const auto e = field(object, name);
  if (!e) return std::nullopt;
  bool v = false;
  if (e->get_bool().get(v) != simdjson::SUCCESS) fail(where, "must be true or false");
  return v;
}

std::optional<std::string_view> JsonFile::string(simdjson::dom::object object, const char* name,
                                                 const std::string& where) const {
  const auto e = field(object, name);
  if (!e) return std::nullopt;
  std::string_view v;
  if (e->get_string().get(v) != simdjson::SUCCESS) fail(where, "must be a string");
  return v;
}

std::optional<simdjson::dom::object> JsonFile::object(simdjson::dom::object object, const char* name,
                                                      const std::string& where) const {
  const auto e = field(object, name);
  if (!e) return std::nullopt;
  simdjson::dom::object v;
  if (e->get_object().get(v) != simdjson::SUCCESS) fail(where, "must be an object");
  return v;
}

std::optional<simdjson::dom::array> JsonFile::array(simdjson::dom::object object, const char* name,
                                                    const std::string& where) const {
  const auto e = field(object, name);
  if (!e) return std::nullopt;
  simdjson::dom::array v;
  if (e->get_array().get(v) != simdjson::SUCCESS) fail(where, "must be an array");
  return v;
}

std::optional<size_t> JsonFile::length(simdjson::dom::object object, const char* name, const std::string& where) const {
  const auto e = field(object, name);
  if (!e) return std::nullopt;
  double v = 0;
  if (e->get_double().get(v) != simdjson::SUCCESS) {
    int64_t i = 0;
    if (e->get_int64().get(i) != simdjson::SUCCESS) fail(where, "must be a number");
    v = static_cast<double>(i);
  }
  if (!(v >= 1)) fail(where, "must be at least 1");
  if (v >= kNoLimit) return std::nullopt;
  return static_cast<size_t>(v);
}

int32_t JsonFile::token_id(simdjson::dom::element e, const std::string& where) const {
  int64_t id = -1;
  if (e.get_int64().get(id) != simdjson::SUCCESS) fail(where, "must be an integer");
  if (id < 0 || id > INT32_MAX) fail(where, "must be a token id (0 or more)");
  return static_cast<int32_t>(id);
}

AddedToken JsonFile::token(simdjson::dom::element e, const std::string& where) const {
  AddedToken t;
  std::string_view content;
  if (e.get_string().get(content) == simdjson::SUCCESS) {  // a bare string: default flags
    t.content = std::string(content);
    return t;
  }
  simdjson::dom::object o;
  if (e.get_object().get(o) != simdjson::SUCCESS) fail(where, "must be a string or a token object");
  const auto c = field(o, "content");
  if (!c || c->get_string().get(content) != simdjson::SUCCESS || content.empty()) {
    fail(where + ".content", "must be a non-empty string");
  }
  t.content = std::string(content);
  t.lstrip = boolean(o, "lstrip", where + ".lstrip").value_or(false);
  t.rstrip = boolean(o, "rstrip", where + ".rstrip").value_or(false);
  t.single_word = boolean(o, "single_word", where + ".single_word").value_or(false);
  t.special = boolean(o, "special", where + ".special").value_or(false);
  // The tokenizers library's AddedToken::from(content, special): a special token is not normalized.
  t.normalized = boolean(o, "normalized", where + ".normalized").value_or(!t.special);
  return t;
}

std::vector<AddedToken> JsonFile::added_tokens() const {
  std::vector<AddedToken> out;
  const auto tokens = array(root_, "added_tokens", "added_tokens");
  if (!tokens) return out;
  size_t k = 0;
  for (simdjson::dom::element e : *tokens) {
    const std::string where = "added_tokens[" + std::to_string(k++) + "]";
    AddedToken t = token(e, where);
    simdjson::dom::object o;
    simdjson::dom::element id;
    if (e.get_object().get(o) != simdjson::SUCCESS || o["id"].get(id) != simdjson::SUCCESS) {
      fail(where + ".id", "must be an integer");
    }
    t.id = token_id(id, where + ".id");
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace rerankd
