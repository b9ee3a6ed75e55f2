#pragma once
// What the engine asks of a model's tokenizer: a text's ids, and a query/document pair assembled
// with the model's special tokens, token types and truncation. One implementation per model family
// (xlmr_tokenizer.h, bert_tokenizer.h); load_tokenizer.h picks one from config.json.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace rerankd {

// Which end of a text gives way when a pair is too long (TEI's truncation_direction).
enum class TruncationSide { kRight, kLeft };

struct EncodedPair {
  std::vector<int32_t> ids;       // with the special tokens
  std::vector<int32_t> type_ids;  // token_type_ids, one per id; empty means all 0 (XLM-R has one type)
  bool truncated = false;         // tokens were dropped to fit max_length
};

class PairTokenizer {
 public:
  virtual ~PairTokenizer() = default;

  // Ids of `text` alone, no pair template; special tokens written in the text become their ids.
  // Thread-safe.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;

  // Tokens the pair template adds around the two texts.
  virtual size_t pair_special_tokens() const = 0;

  // The pair template around already-encoded texts, after Hugging Face's `longest_first`
  // truncation to max_length tokens in all, special tokens included.
  virtual EncodedPair assemble_pair(std::vector<int32_t> query, std::vector<int32_t> document, size_t max_length,
                                    TruncationSide side = TruncationSide::kRight) const = 0;

  // Largest id this tokenizer emits; must be < the model's vocab_size.
  virtual int32_t max_id() const = 0;

  EncodedPair encode_pair(std::string_view query, std::string_view document, size_t max_length,
                          TruncationSide side = TruncationSide::kRight) const {
    return assemble_pair(encode(query), encode(document), max_length, side);
  }
  // Length of the pair before any truncation: used to refuse over-long input when truncation is off.
  size_t pair_length(size_t query_tokens, size_t document_tokens) const {
    return query_tokens + document_tokens + pair_special_tokens();
  }
};

// Hugging Face's longest_first as its fast (Rust) tokenizer does it, cutting both texts so that
// they fit `budget` tokens together. True when anything was cut.
bool truncate_longest_first(std::vector<int32_t>& query, std::vector<int32_t>& document, size_t budget,
                            TruncationSide side);

}  // namespace rerankd
