#pragma once
// XLM-RoBERTa's tokenizer: sentencepiece.bpe.model through libsentencepiece, with fairseq's id
// mapping and the cross-encoder pair template <s> query </s></s> document </s>.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace rerankd {

// Which end of a text gives way when a pair is too long (TEI's truncation_direction).
enum class TruncationSide { kRight, kLeft };

struct EncodedPair {
  std::vector<int32_t> ids;  // with the special tokens
  bool truncated = false;    // tokens were dropped to fit max_length
};

class XlmrTokenizer {
 public:
  static constexpr int32_t kBos = 0;  // <s>
  static constexpr int32_t kPad = 1;  // <pad>
  static constexpr int32_t kEos = 2;  // </s>
  static constexpr int32_t kUnk = 3;  // <unk>
  static constexpr int kPairSpecialTokens = 4;

  // Throws Error naming the file: kIo when it is missing or not a regular file, kModelFormat when
  // it is not a sentencepiece model.
  explicit XlmrTokenizer(const std::filesystem::path& spm_model);
  ~XlmrTokenizer();
  XlmrTokenizer(const XlmrTokenizer&) = delete;
  XlmrTokenizer& operator=(const XlmrTokenizer&) = delete;

  // Fairseq ids of `text` alone, no special tokens. Thread-safe (sentencepiece encode is const).
  std::vector<int32_t> encode(std::string_view text) const;

  // The first `max_tokens` of encode(text) (side kRight), or the last (kLeft), fewer if the text
  // has fewer; pass one more than you keep to learn whether it had more. Only a window of the text
  // at that end is tokenized, so the cost is bounded by the tokens asked for, not the text's size
  // (sentencepiece took 2 GB on one 8 MiB word). See the .cpp for why the ids are the same.
  std::vector<int32_t> encode(std::string_view text, size_t max_tokens, TruncationSide side) const;

  // The number of ids encode(text) gives, tokenized a window at a time, so memory stays bounded
  // (exact when every word is shorter than the window, see the .cpp).
  size_t count(std::string_view text) const;

  // The texts' ids were cut to `keep` = budget + 1 each (encode(text, keep, side)). longest_first
  // needs to know which text is longer only when both were cut and the budget is odd (the longer
  // keeps the odd token); then this counts them, else it says nothing (nullopt).
  std::optional<bool> query_is_longer(std::string_view query, size_t query_ids, std::string_view document,
                                      size_t document_ids, size_t max_length) const;

  // The pair with Hugging Face's `longest_first` truncation to max_length tokens in all, special
  // tokens included. Each text is encoded bounded (one token past the budget).
  EncodedPair encode_pair(std::string_view query, std::string_view document, size_t max_length,
                          TruncationSide side = TruncationSide::kRight) const;

  // Length of the pair before any truncation: used to refuse over-long input when truncation is off.
  static size_t pair_length(size_t query_tokens, size_t document_tokens) {
    return query_tokens + document_tokens + kPairSpecialTokens;
  }
  // query_is_longer: which text is longer when the ids were cut (query_is_longer() above); by
  // default the ids' own lengths say.
  static EncodedPair assemble_pair(std::vector<int32_t> query, std::vector<int32_t> document, size_t max_length,
                                   TruncationSide side = TruncationSide::kRight,
                                   std::optional<bool> query_is_longer = std::nullopt);

  // Largest fairseq id this tokenizer emits (<mask> = piece count + 1); must be < vocab_size.
  int32_t max_id() const;

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
  // Where a window of `window` bytes at `side`'s end of text is cut: [begin, end), and whether at
  // a space (else at a character boundary inside a word).
  struct Cut {
    size_t begin, end;
    bool at_space;
  };
  static Cut cut(std::string_view text, size_t window, TruncationSide side);

  size_t longest_piece_bytes_ = 1;  // sizes the windows that encode(text, max_tokens, side) and count read
};

}  // namespace rerankd
