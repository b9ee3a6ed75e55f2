#pragma once
// XLM-RoBERTa's tokenizer: sentencepiece.bpe.model through libsentencepiece, with fairseq's id
// mapping, Hugging Face's added tokens cut out first, and the cross-encoder pair template
// <s> query </s></s> document </s>.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/pair_tokenizer.h"
#include "tokenizer/tokenizer_files.h"

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace rerankd {

class XlmrTokenizer final : public PairTokenizer {
 public:
  static constexpr int32_t kBos = 0;  // <s>
  static constexpr int32_t kPad = 1;  // <pad>
  static constexpr int32_t kEos = 2;  // </s>
  static constexpr int32_t kUnk = 3;  // <unk>
  static constexpr size_t kPairSpecialTokens = 4;

  // Throws Error naming the file: kIo when it is missing or not a regular file, kModelFormat when
  // it is not a sentencepiece model. `files` gives the added tokens; without any, XLM-R's five
  // (<s> <pad> </s> <unk> and <mask>, which swallows the whitespace on its left) with
  // special_tokens_map.json's flags.
  explicit XlmrTokenizer(const std::filesystem::path& spm_model, const TokenizerFiles& files = {});
  ~XlmrTokenizer() override;
  XlmrTokenizer(const XlmrTokenizer&) = delete;
  XlmrTokenizer& operator=(const XlmrTokenizer&) = delete;

  // Fairseq ids; each piece of text between added tokens is encoded on its own, as Hugging Face does.
  std::vector<int32_t> encode(std::string_view text) const override;
  // Only a window of the text at the kept end is tokenized, so the cost is bounded by the tokens
  // asked for, not the text's size (sentencepiece took 2 GB on one 8 MiB word). See the .cpp for
  // why the ids are the same as encode(text)'s.
  std::vector<int32_t> encode(std::string_view text, size_t max_tokens, TruncationSide side) const override;
  // Tokenized a window at a time, so memory stays bounded (exact when every word is shorter than
  // the window, see the .cpp).
  size_t count(std::string_view text) const override;
  std::optional<TokenizedText> encode_with_spans(std::string_view text, size_t max_tokens,
                                                TruncationSide side) const override;

  size_t pair_special_tokens() const override { return kPairSpecialTokens; }
  EncodedPair apply_pair_template(const std::vector<int32_t>& query,
                                  const std::vector<int32_t>& document) const override;
  // <mask> = piece count + 1 unless an added token has a larger id.
  int32_t max_id() const override;

 private:
  void encode_piece(std::string_view text, std::vector<int32_t>& ids) const;
  // encode(text) (spans too when asked), and the one bounded window loop both encodes use.
  TokenizedText encode_whole(std::string_view text, bool spans) const;
  TokenizedText encode_window(std::string_view text, size_t max_tokens, TruncationSide side, bool spans) const;

  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  // Where a window of `window` bytes at `side`'s end of text is cut: [begin, end), and whether at
  // a space (else at a character boundary inside a word).
  struct Cut {
    size_t begin, end;
    bool at_space;
  };
  static Cut cut(std::string_view text, size_t window, TruncationSide side);

  size_t longest_piece_bytes_ = 1;  // sizes the windows that encode(text, max_tokens, side) and count read
  std::unique_ptr<AddedTokenSplitter> added_;
};

}  // namespace rerankd
