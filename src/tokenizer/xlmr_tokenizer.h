#pragma once
// XLM-RoBERTa's tokenizer: sentencepiece.bpe.model through libsentencepiece, with fairseq's id
// mapping and the cross-encoder pair template <s> query </s></s> document </s>.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace rerankd {

// Which end of a text gives way when a pair is too long (TEI's truncation_direction).
enum class TruncationSide { kRight, kLeft };

// A text's ids with where each token came from: bytes [begin, end) of the text (UTF-8).
struct TokenizedText {
  std::vector<int32_t> ids;
  std::vector<std::pair<uint32_t, uint32_t>> spans;  // per token
};

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

  // Throws Error(kModelFormat) naming the file when it is missing or not a sentencepiece model.
  explicit XlmrTokenizer(const std::filesystem::path& spm_model);
  ~XlmrTokenizer();
  XlmrTokenizer(const XlmrTokenizer&) = delete;
  XlmrTokenizer& operator=(const XlmrTokenizer&) = delete;

  // Fairseq ids of `text` alone, no special tokens. Thread-safe (sentencepiece encode is const).
  std::vector<int32_t> encode(std::string_view text) const;
  // The same ids with each token's byte span in `text` (for reporting which chunk of a document won).
  TokenizedText encode_with_spans(std::string_view text) const;

  // The pair with Hugging Face's `longest_first` truncation to max_length tokens in all, special
  // tokens included.
  EncodedPair encode_pair(std::string_view query, std::string_view document, size_t max_length,
                          TruncationSide side = TruncationSide::kRight) const;

  // Length of the pair before any truncation: used to refuse over-long input when truncation is off.
  static size_t pair_length(size_t query_tokens, size_t document_tokens) {
    return query_tokens + document_tokens + kPairSpecialTokens;
  }
  static EncodedPair assemble_pair(std::vector<int32_t> query, std::vector<int32_t> document, size_t max_length,
                                   TruncationSide side = TruncationSide::kRight);

  // Largest fairseq id this tokenizer emits (<mask> = piece count + 1); must be < vocab_size.
  int32_t max_id() const;

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
};

}  // namespace rerankd
