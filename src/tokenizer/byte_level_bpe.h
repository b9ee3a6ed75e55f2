#pragma once
// Byte-level BPE from a tokenizer.json, as Hugging Face's tokenizers library runs it for Qwen2,
// Qwen3 (and GPT-2): added tokens cut out of the raw text (normalized: false) or of the normalized
// text (normalized: true), NFC, the Split regex pre-tokenizer(s), ByteLevel, then BPE merges by rank.
// What tokenizer.json may declare, and what is refused: tokenizer_json.h, docs/tokenizers.md.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe_model.h"
#include "tokenizer/split_regex.h"
#include "tokenizer/text_tokenizer.h"

namespace rerankd {

class ByteLevelBpe final : public TextTokenizer {
 public:
  // Throws Error(kIo) when the file is missing, Error(kModelFormat) naming the file and the field
  // when it is malformed or declares what this tokenizer does not do.
  static ByteLevelBpe load(const std::filesystem::path& tokenizer_json);

  std::vector<int32_t> encode(std::string_view text) const override;
  TokenizedText encode_with_spans(std::string_view text) const override;
  std::optional<int32_t> token_id(std::string_view token) const override;
  int32_t max_id() const override;

  // tokenizer.json's post_processor type ("" when null): recorded, never applied by encode.
  const std::string& post_processor() const { return post_processor_; }

 private:
  ByteLevelBpe(bool nfc, std::vector<SplitRegex> splits, std::optional<SplitRegex> gpt2_split, BpeModel model,
               std::vector<AddedToken> added_tokens, std::string post_processor);

  // Maps a byte range of the text the model saw to one of the text as given.
  struct SpanMap;
  void encode_into(std::string_view text, std::vector<int32_t>& ids, std::vector<std::pair<uint32_t, uint32_t>>* spans) const;
  void encode_normalized(std::string_view text, const SpanMap& map, std::vector<int32_t>& ids,
                         std::vector<std::pair<uint32_t, uint32_t>>* spans) const;
  // `text` starts `base` bytes into the text the map takes ranges of.
  void encode_pre_tokens(std::string_view text, size_t base, const SpanMap& map, std::vector<int32_t>& ids,
                         std::vector<std::pair<uint32_t, uint32_t>>* spans) const;

  bool nfc_;
  std::vector<SplitRegex> splits_;
  std::optional<SplitRegex> gpt2_split_;
  BpeModel model_;
  std::vector<AddedToken> added_tokens_;
  AddedTokenSplitter raw_added_;         // normalized: false, matched in the text as given
  AddedTokenSplitter normalized_added_;  // normalized: true, matched after NFC
  std::string post_processor_;
};

}  // namespace rerankd
