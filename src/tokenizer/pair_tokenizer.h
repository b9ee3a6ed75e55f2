#pragma once
// What the engine asks of a model's tokenizer: a text's ids, and a query/document pair assembled
// with the model's special tokens, token types and truncation. One implementation per kind of
// model (xlmr_tokenizer.h, bert_tokenizer.h for encoders; prompt_tokenizer.h for decoder LLMs);
// load_tokenizer.h picks one from config.json.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/answer_tokens.h"

namespace rerankd {

// Which end of a text gives way when a pair is too long (TEI's truncation_direction).
enum class TruncationSide { kRight, kLeft };

struct EncodedPair {
  std::vector<int32_t> ids;       // with the special tokens
  std::vector<int32_t> type_ids;  // token_type_ids, one per id; empty means all 0 (XLM-R has one type)
  bool truncated = false;         // tokens were dropped to fit max_length
};

// A text's ids with where each token came from: bytes [begin, end) of the text (UTF-8).
struct TokenizedText {
  std::vector<int32_t> ids;
  std::vector<std::pair<uint32_t, uint32_t>> spans;  // per token
};

class PairTokenizer {
 public:
  virtual ~PairTokenizer() = default;

  // Ids of `text` alone, no pair template; special tokens written in the text become their ids.
  // Thread-safe.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;

  // The first `max_tokens` of encode(text) (side kRight), or the last (kLeft), fewer if the text
  // has fewer; pass one more than you keep to learn whether it had more. This default encodes the
  // whole text; a tokenizer whose cost grows faster than its input tokenizes only a window.
  virtual std::vector<int32_t> encode(std::string_view text, size_t max_tokens, TruncationSide side) const;

  // encode(text, max_tokens, side) with each id's byte span in the text (to say which chunk of a
  // document won); nullopt from a tokenizer that cannot tell (BERT's WordPiece here), for which
  // documents are then not chunked (a 422 says so).
  virtual std::optional<TokenizedText> encode_with_spans(std::string_view, size_t, TruncationSide) const {
    return std::nullopt;
  }

  // The number of ids encode(text) gives.
  virtual size_t count(std::string_view text) const { return encode(text).size(); }

  // Tokens the pair template adds around the two texts.
  virtual size_t pair_special_tokens() const = 0;

  // The pair template around already-encoded texts, after Hugging Face's `longest_first`
  // truncation to max_length tokens in all, special tokens included. query_is_longer: which text
  // is longer when the ids were cut (query_is_longer() below); by default the ids' own lengths say.
  EncodedPair assemble_pair(std::vector<int32_t> query, std::vector<int32_t> document, size_t max_length,
                            TruncationSide side = TruncationSide::kRight,
                            std::optional<bool> query_is_longer = std::nullopt) const;

  // The model family's pair template (special tokens, token types) around texts that already fit.
  virtual EncodedPair apply_pair_template(const std::vector<int32_t>& query,
                                          const std::vector<int32_t>& document) const = 0;

  // Largest id this tokenizer emits; must be < the model's vocab_size.
  virtual int32_t max_id() const = 0;

  // A decoder's prompt is tokenized as its authors' code does it, often as one text: such a
  // tokenizer encodes whole pairs only (encode_prompt), with its own truncation, so documents
  // cannot be cut into chunks nor a truncation rule chosen.
  virtual bool prompt_based() const { return false; }
  // The pair in the model's prompt, at most max_length tokens as the recipe counts them;
  // `instruction` empty: the recipe's default (default_instruction()).
  virtual EncodedPair encode_prompt(std::string_view instruction, std::string_view query, std::string_view document,
                                    size_t max_length) const;
  // The instruction a prompt uses when the request gives none; empty when the model takes none by
  // default (or is no prompt-based model).
  virtual const std::string& default_instruction() const;
  // The tokens whose logits score a prompt (none for an encoder's tokenizer).
  virtual AnswerTokens answer_tokens() const { return {}; }

  // The texts' ids were cut to `keep` = budget + 1 each (encode(text, keep, side)). longest_first
  // needs to know which text is longer only when both were cut and the budget is odd (the longer
  // keeps the odd token); then this counts them, else it says nothing (nullopt).
  std::optional<bool> query_is_longer(std::string_view query, size_t query_ids, std::string_view document,
                                      size_t document_ids, size_t max_length) const;

  // The pair, each text encoded bounded (one token past the budget); a prompt-based tokenizer's
  // prompt with the default instruction.
  EncodedPair encode_pair(std::string_view query, std::string_view document, size_t max_length,
                          TruncationSide side = TruncationSide::kRight) const;
  // Length of the pair before any truncation: used to refuse over-long input when truncation is off.
  size_t pair_length(size_t query_tokens, size_t document_tokens) const {
    return query_tokens + document_tokens + pair_special_tokens();
  }
};

// Hugging Face's longest_first as its fast (Rust) tokenizer does it, cutting both texts so that
// they fit `budget` tokens together. True when anything was cut.
// query_is_longer as in assemble_pair.
bool truncate_longest_first(std::vector<int32_t>& query, std::vector<int32_t>& document, size_t budget,
                            TruncationSide side, std::optional<bool> query_is_longer = std::nullopt);

}  // namespace rerankd
