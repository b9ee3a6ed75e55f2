#pragma once
// The settings Hugging Face keeps beside a tokenizer's vocabulary: tokenizer.json,
// tokenizer_config.json and special_tokens_map.json, each read where present. Missing files
// and fields leave the tokenizer's own defaults in force.
#include <cstddef>
#include <filesystem>
#include <optional>
#include <vector>

#include "tokenizer/added_tokens.h"

namespace rerankd {

struct TokenizerFiles {
  // Added tokens with their ids: tokenizer.json's `added_tokens`, else tokenizer_config.json's
  // `added_tokens_decoder`. Empty when neither file lists them.
  std::vector<AddedToken> added_tokens;
  // special_tokens_map.json's tokens (ids unknown: id -1), for older files that list no ids: their
  // lstrip/rstrip flags apply to the tokenizer's default special tokens of the same content.
  std::vector<AddedToken> special_tokens_map;
  // The smallest of tokenizer_config.json's `model_max_length` and tokenizer.json's
  // `truncation.max_length`; transformers' "no limit" (1e30) counts as absent.
  std::optional<size_t> max_length;
  // BertTokenizer's options in tokenizer_config.json.
  std::optional<bool> do_lower_case;
  std::optional<bool> strip_accents;  // null or absent: follows do_lower_case
  std::optional<bool> tokenize_chinese_chars;
};

// Throws Error(kModelFormat) naming the file and field when a file is not valid JSON or a field
// has the wrong type.
TokenizerFiles read_tokenizer_files(const std::filesystem::path& model_dir);

}  // namespace rerankd
