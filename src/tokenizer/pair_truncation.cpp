#include "tokenizer/pair_truncation.h"

#include <algorithm>

namespace rerankd {
namespace {

size_t budget_of(size_t max_length, size_t specials) { return max_length > specials ? max_length - specials : 0; }

// FlagEmbedding's query_max_length default.
size_t flagembedding_query_cap(size_t max_length) { return max_length * 3 / 4; }

}  // namespace

std::optional<TruncationRule> truncation_rule_named(std::string_view name) {
  if (name == "longest_first") return TruncationRule::kLongestFirst;
  if (name == "flagembedding") return TruncationRule::kFlagEmbedding;
  return std::nullopt;
}

const char* truncation_rule_name(TruncationRule rule) {
  return rule == TruncationRule::kFlagEmbedding ? "flagembedding" : "longest_first";
}

void keep_tokens(std::vector<int32_t>& ids, size_t n, TruncationSide side) {
  if (ids.size() <= n) return;
  if (side == TruncationSide::kLeft) ids.erase(ids.begin(), ids.end() - static_cast<std::ptrdiff_t>(n));
  else ids.resize(n);
}

size_t query_share(TruncationRule rule, size_t query_tokens, size_t max_length, size_t pair_special_tokens) {
  const size_t budget = budget_of(max_length, pair_special_tokens);
  if (rule == TruncationRule::kFlagEmbedding) {
    return std::min({query_tokens, flagembedding_query_cap(max_length), budget});
  }
  // longest_first against a longer document: the query, the shorter side, stays whole if it fits
  // in half the budget, else gets half (the longer side keeps the odd token).
  return query_tokens * 2 <= budget ? query_tokens : budget / 2;
}

TruncatedPair truncate_pair(const PairTokenizer& tokenizer, TruncationRule rule, std::vector<int32_t> query,
                            std::vector<int32_t> document, size_t max_length, TruncationSide side,
                            std::optional<bool> query_is_longer) {
  const size_t budget = budget_of(max_length, tokenizer.pair_special_tokens());
  bool cut = false;
  if (rule == TruncationRule::kLongestFirst) {
    cut = truncate_longest_first(query, document, budget, side, query_is_longer);
  } else {
    const size_t query_cap = std::min(flagembedding_query_cap(max_length), budget);
    if (query.size() > query_cap) {
      keep_tokens(query, query_cap, side);
      cut = true;
    }
    const size_t room = budget - query.size();
    if (document.size() > room) {
      keep_tokens(document, room, side);
      cut = true;
    }
  }
  TruncatedPair out;
  out.query_kept = query.size();
  out.document_kept = document.size();
  out.pair = tokenizer.assemble_pair(std::move(query), std::move(document), max_length, side);
  out.pair.truncated = cut;
  return out;
}

}  // namespace rerankd
