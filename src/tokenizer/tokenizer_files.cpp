#include "tokenizer/tokenizer_files.h"

#include <simdjson.h>

#include <algorithm>
#include <string>

#include "common/error.h"
#include "tokenizer/json_file.h"

namespace rerankd {
namespace {

void keep_smaller(std::optional<size_t>& into, std::optional<size_t> value) {
  if (value) into = into ? std::min(*into, *value) : *value;
}

void read_tokenizer_json(const std::filesystem::path& dir, TokenizerFiles& out) {
  JsonFile f;
  if (!f.open(dir / "tokenizer.json")) return;
  out.added_tokens = f.added_tokens();
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
      const std::string digits(key);
      if (digits.empty() || digits.size() > 10 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) {
        f.fail(where, "must be keyed by a token id");
      }
      const int64_t id = std::stoll(digits);
      if (id > INT32_MAX) f.fail(where, "must be a token id (0 or more)");
      t.id = static_cast<int32_t>(id);
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
