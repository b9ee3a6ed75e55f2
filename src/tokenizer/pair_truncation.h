#pragma once
// How a (query, document) pair is cut to the model's window: Hugging Face's longest_first (the
// default, what PairTokenizer::assemble_pair does) or FlagEmbedding's rule, and the share of the
// window the query keeps against a long document (what document chunks are sized from).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "tokenizer/pair_tokenizer.h"

namespace rerankd {

enum class TruncationRule {
  kLongestFirst,  // Hugging Face's tokenizer(query, document, truncation=True)
  // FlagReranker.compute_score (FlagEmbedding's encoder-only BaseReranker): the query alone is cut
  // to max_length * 3 // 4 tokens, then the pair to max_length by cutting the document only
  // ("only_second").
  kFlagEmbedding,
};

std::optional<TruncationRule> truncation_rule_named(std::string_view name);  // "longest_first" | "flagembedding"
const char* truncation_rule_name(TruncationRule rule);

struct TruncatedPair {
  EncodedPair pair;
  size_t query_kept = 0, document_kept = 0;  // tokens of each text in the pair
};

// The pair in the tokenizer's template in at most max_length tokens by `rule`. Where
// FlagEmbedding's rule cannot fit the pair by cutting the document (max_length <= 16, so that the
// capped query and the specials already fill it), the query is cut too: FlagEmbedding would pass the
// pair on longer than max_length, which the model cannot take. query_is_longer: as in
// PairTokenizer::assemble_pair, for longest_first on texts that were cut when encoded.
TruncatedPair truncate_pair(const PairTokenizer& tokenizer, TruncationRule rule, std::vector<int32_t> query,
                            std::vector<int32_t> document, size_t max_length, TruncationSide side,
                            std::optional<bool> query_is_longer = std::nullopt);

// Tokens a query of `query_tokens` keeps under `rule` when its document is longer than what is
// left: the document window is then max_length - pair_special_tokens - this.
size_t query_share(TruncationRule rule, size_t query_tokens, size_t max_length, size_t pair_special_tokens);

// Drops tokens from `side` until `n` are left.
void keep_tokens(std::vector<int32_t>& ids, size_t n, TruncationSide side);

}  // namespace rerankd
