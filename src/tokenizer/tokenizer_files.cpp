#include "tokenizer/tokenizer_files.h"

#include <simdjson.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

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

class JsonFile {
 public:
  // False when the file is not there; throws when it is there but unreadable or not an object.
  bool open(const std::filesystem::path& path) {
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

  [[noreturn]] void fail(const std::string& field, const std::string& why) const {
    throw Error(Error::Kind::kModelFormat, path_.string() + ": field '" + field + "' " + why);
  }

  simdjson::dom::object root() const { return root_; }

  // The field, or nothing when absent or null.
  std::optional<simdjson::dom::element> field(simdjson::dom::object object, const char* name) const {
    simdjson::dom::element e;
    if (object[name].get(e) != simdjson::SUCCESS || e.is_null()) return std::nullopt;
    return e;
  }

  std::optional<bool> boolean(simdjson::dom::object object, const char* name, const std::string& where) const {
    const auto e = field(object, name);
    if (!e) return std::nullopt;
    bool v = false;
    if (e->get_bool().get(v) != simdjson::SUCCESS) fail(where, "must be true or false");
    return v;
  }

  std::optional<size_t> length(simdjson::dom::object object, const char* name, const std::string& where) const {
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

  // {"content", "lstrip", "rstrip", ...} as the tokenizers library and transformers write a token.
  AddedToken token(simdjson::dom::element e, const std::string& where) const {
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
    return t;
  }

 private:
  std::filesystem::path path_;
  std::string text_;
  simdjson::dom::parser parser_;
  simdjson::dom::object root_;
};

void keep_smaller(std::optional<size_t>& into, std::optional<size_t> value) {
  if (value) into = into ? std::min(*into, *value) : *value;
}

int32_t token_id(const JsonFile& f, int64_t id, const std::string& where) {
  if (id < 0 || id > INT32_MAX) f.fail(where, "must be a token id (0 or more)");
  return static_cast<int32_t>(id);
}

void read_tokenizer_json(const std::filesystem::path& dir, TokenizerFiles& out) {
  JsonFile f;
  if (!f.open(dir / "tokenizer.json")) return;
  if (const auto added = f.field(f.root(), "added_tokens")) {
    simdjson::dom::array tokens;
    if (added->get_array().get(tokens) != simdjson::SUCCESS) f.fail("added_tokens", "must be an array");
    size_t k = 0;
    for (simdjson::dom::element e : tokens) {
      const std::string where = "added_tokens[" + std::to_string(k++) + "]";
      AddedToken t = f.token(e, where);
      int64_t id = -1;
      simdjson::dom::object o;
      if (e.get_object().get(o) != simdjson::SUCCESS || o["id"].get_int64().get(id) != simdjson::SUCCESS) {
        f.fail(where + ".id", "must be an integer");
      }
      t.id = token_id(f, id, where + ".id");
      out.added_tokens.push_back(std::move(t));
    }
  }
  if (const auto truncation = f.field(f.root(), "truncation")) {
    simdjson::dom::object o;
    if (truncation->get_object().get(o) != simdjson::SUCCESS) f.fail("truncation", "must be an object or null");
    keep_smaller(out.max_length, f.length(o, "max_length", "truncation.max_length"));
  }
}

void read_tokenizer_config(const std::filesystem::path& dir, TokenizerFiles& out) {
  JsonFile f;
  if (!f.open(dir / "tokenizer_config.json")) return;
  const simdjson::dom::object root = f.root();
  keep_smaller(out.max_length, f.length(root, "model_max_length", "model_max_length"));
  out.do_lower_case = f.boolean(root, "do_lower_case", "do_lower_case");
  out.strip_accents = f.boolean(root, "strip_accents", "strip_accents");
  out.tokenize_chinese_chars = f.boolean(root, "tokenize_chinese_chars", "tokenize_chinese_chars");
  if (!out.added_tokens.empty()) return;  // tokenizer.json's list wins
  if (const auto decoder = f.field(root, "added_tokens_decoder")) {
    simdjson::dom::object tokens;
    if (decoder->get_object().get(tokens) != simdjson::SUCCESS) f.fail("added_tokens_decoder", "must be an object");
    for (auto [key, value] : tokens) {
      const std::string where = "added_tokens_decoder." + std::string(key);
      AddedToken t = f.token(value, where);
      int64_t id = -1;
      const std::string digits(key);
      if (digits.empty() || digits.size() > 10 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) {
        f.fail(where, "must be keyed by a token id");
      }
      id = std::stoll(digits);
      t.id = token_id(f, id, where);
      out.added_tokens.push_back(std::move(t));
    }
  }
}

void read_special_tokens_map(const std::filesystem::path& dir, TokenizerFiles& out) {
  JsonFile f;
  if (!f.open(dir / "special_tokens_map.json")) return;
  for (auto [key, value] : f.root()) {
    const std::string where(key);
    simdjson::dom::array list;
    if (value.get_array().get(list) == simdjson::SUCCESS) {  // additional_special_tokens
      size_t k = 0;
      for (simdjson::dom::element e : list) {
        out.special_tokens_map.push_back(f.token(e, where + "[" + std::to_string(k++) + "]"));
      }
    } else if (!value.is_null()) {
      out.special_tokens_map.push_back(f.token(value, where));
    }
  }
}

}  // namespace

TokenizerFiles read_tokenizer_files(const std::filesystem::path& model_dir) {
  TokenizerFiles out;
  read_tokenizer_json(model_dir, out);
  read_tokenizer_config(model_dir, out);
  read_special_tokens_map(model_dir, out);
  return out;
}

}  // namespace rerankd
