#pragma once
// A JSON file of a tokenizer (tokenizer.json, tokenizer_config.json, ...) read with simdjson, and
// the field readers every such file needs: each failure is Error(kModelFormat) naming the file and
// the field's path, so that a malformed file never crashes the loader.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/added_tokens.h"

namespace rerankd {

class JsonFile {
 public:
  // False when the file is not there; throws when it is there but unreadable or not an object.
  bool open(const std::filesystem::path& path);

  [[noreturn]] void fail(const std::string& field, const std::string& why) const;

  const std::filesystem::path& path() const { return path_; }
  simdjson::dom::object root() const { return root_; }

  // The field, or nothing when absent or null.
  std::optional<simdjson::dom::element> field(simdjson::dom::object object, const char* name) const;
  std::optional<bool> boolean(simdjson::dom::object object, const char* name, const std::string& where) const;
  std::optional<std::string_view> string(simdjson::dom::object object, const char* name,
                                         const std::string& where) const;
  std::optional<simdjson::dom::object> object(simdjson::dom::object object, const char* name,
                                              const std::string& where) const;
  std::optional<simdjson::dom::array> array(simdjson::dom::object object, const char* name,
                                            const std::string& where) const;
  // A count or length >= 1; transformers' "no limit" (1e30) reads as nothing.
  std::optional<size_t> length(simdjson::dom::object object, const char* name, const std::string& where) const;
  // An id in [0, INT32_MAX].
  int32_t token_id(simdjson::dom::element e, const std::string& where) const;

  // {"content", "lstrip", "rstrip", "single_word", "normalized", "special"} as the tokenizers
  // library and transformers write a token, or a bare string (default flags). id stays -1.
  AddedToken token(simdjson::dom::element e, const std::string& where) const;
  // tokenizer.json's `added_tokens`: token objects with their ids. Empty when absent or null.
  std::vector<AddedToken> added_tokens() const;

 private:
  std::filesystem::path path_;
  std::string text_;
  simdjson::dom::parser parser_;
  simdjson::dom::object root_;
};

}  // namespace rerankd
