#pragma once
// Gemma's tokenizer (bge-reranker-v2-gemma): tokenizer.model through libsentencepiece, its ids as
// they are (Gemma: <pad>=0 <eos>=1 <bos>=2 <unk>=3), byte fallback as sentencepiece does it, and
// Hugging Face's added tokens cut out of the raw text first, each piece between them encoded on
// its own, as GemmaTokenizer does.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/text_tokenizer.h"
#include "tokenizer/tokenizer_files.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace rerankd {

class SentencePieceText final : public TextTokenizer {
 public:
  // Throws Error naming the file: kIo when it is missing or not a regular file, kModelFormat when
  // it is not a sentencepiece model. Added tokens: `files` (tokenizer.json's, else
  // tokenizer_config.json's); without any, the model's control pieces and its unknown piece.
  static SentencePieceText load(const std::filesystem::path& tokenizer_model, const TokenizerFiles& files = {});
  ~SentencePieceText() override;
  SentencePieceText(SentencePieceText&&) noexcept;
  SentencePieceText& operator=(SentencePieceText&&) noexcept;

  std::vector<int32_t> encode(std::string_view text) const override;
  TokenizedText encode_with_spans(std::string_view text) const override;
  std::optional<int32_t> token_id(std::string_view token) const override;
  int32_t max_id() const override;

 private:
  SentencePieceText(std::unique_ptr<sentencepiece::SentencePieceProcessor> sp, std::vector<AddedToken> added);
  void encode_into(std::string_view text, std::vector<int32_t>& ids, std::vector<std::pair<uint32_t, uint32_t>>* spans) const;

  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  AddedTokenSplitter added_;
};

}  // namespace rerankd
