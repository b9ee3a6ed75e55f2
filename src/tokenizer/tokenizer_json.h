#pragma once
// What a byte-level BPE tokenizer.json (Qwen2's and Qwen3's layout, GPT-2's) declares, read and
// checked: every normalizer, pre-tokenizer, model type or option the tokenizer would get wrong is
// refused with Error(kModelFormat) "<file>: field '<json path>' ... not supported", and every
// missing or mistyped field is an error naming it. What is supported is listed in docs/tokenizers.md.
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/json_file.h"

namespace rerankd {

struct ByteLevelBpeConfig {
  bool nfc = false;  // normalizer: NFC (alone or in a Sequence), else none
  // Split pre-tokenizers (behavior Isolated), applied in order, each with its JSON path.
  std::vector<std::pair<std::string, std::string>> split_patterns;
  bool gpt2_split = false;  // the ByteLevel pre-tokenizer's own use_regex
  Vocab vocab;
  std::vector<std::pair<std::string, std::string>> merges;
  BpeOptions bpe;
  std::vector<AddedToken> added_tokens;
  // post_processor's type ("ByteLevel", "TemplateProcessing", ...), "" when null. Not applied: the
  // prompt builder places every special token itself.
  std::string post_processor;
};

ByteLevelBpeConfig read_byte_level_bpe_config(const JsonFile& file);

}  // namespace rerankd
