#include "tokenizer/pair_tokenizer.h"

#include <algorithm>

#include "common/error.h"

namespace rerankd {

std::vector<int32_t> PairTokenizer::encode(std::string_view text, size_t max_tokens, TruncationSide side) const {
  std::vector<int32_t> ids = encode(text);
  if (ids.size() <= max_tokens) return ids;
  if (side == TruncationSide::kLeft) ids.erase(ids.begin(), ids.end() - static_cast<std::ptrdiff_t>(max_tokens));
  else ids.resize(max_tokens);
  return ids;
}

std::optional<bool> PairTokenizer::query_is_longer(std::string_view query, size_t query_ids,
                                                   std::string_view document, size_t document_ids,
                                                   size_t max_length) const {
  const size_t specials = pair_special_tokens();
  const size_t budget = max_length > specials ? max_length - specials : 0;
  if (budget % 2 == 0 || query_ids <= budget || document_ids <= budget) return std::nullopt;
  return count(query) > count(document);
}

EncodedPair PairTokenizer::encode_prompt(std::string_view, std::string_view, std::string_view, size_t) const {
  throw Error(Error::Kind::kInternal, "encode_prompt asked of a tokenizer that builds no prompts");
}

const std::string& PairTokenizer::default_instruction() const {
  static const std::string kNone;
  return kNone;
}

EncodedPair PairTokenizer::encode_pair(std::string_view query, std::string_view document, size_t max_length,
                                       TruncationSide side) const {
  if (prompt_based()) return encode_prompt({}, query, document, max_length);
  const size_t specials = pair_special_tokens();
  const size_t keep = max_length > specials ? max_length - specials + 1 : 1;
  std::vector<int32_t> q = encode(query, keep, side), d = encode(document, keep, side);
  const std::optional<bool> longer = query_is_longer(query, q.size(), document, d.size(), max_length);
  return assemble_pair(std::move(q), std::move(d), max_length, side, longer);
}

EncodedPair PairTokenizer::assemble_pair(std::vector<int32_t> query, std::vector<int32_t> document,
                                         size_t max_length, TruncationSide side,
                                         std::optional<bool> query_is_longer) const {
  const size_t specials = pair_special_tokens();
  const size_t budget = max_length > specials ? max_length - specials : 0;
  const bool truncated = truncate_longest_first(query, document, budget, side, query_is_longer);
  EncodedPair out = apply_pair_template(query, document);
  out.truncated = truncated;
  return out;
}

bool truncate_longest_first(std::vector<int32_t>& query, std::vector<int32_t>& document, size_t budget,
                            TruncationSide side, std::optional<bool> query_longer) {
  if (query.size() + document.size() <= budget) return false;
  // The shorter side stays whole when it fits in half the budget and the longer gives way;
  // otherwise both are cut to half, the longer side keeping the odd token (the document on a tie).
  const bool query_is_longer = query_longer.value_or(query.size() > document.size());
  const size_t shorter = std::min(query.size(), document.size());
  size_t keep_short = shorter, keep_long = budget - shorter;
  if (shorter * 2 > budget) {
    keep_short = budget / 2;
    keep_long = budget - keep_short;
  }
  auto keep = [side](std::vector<int32_t>& ids, size_t n) {
    if (side == TruncationSide::kLeft) ids.erase(ids.begin(), ids.end() - static_cast<std::ptrdiff_t>(n));
    else ids.resize(n);
  };
  keep(query, query_is_longer ? keep_long : keep_short);
  keep(document, query_is_longer ? keep_short : keep_long);
  return true;
}

}  // namespace rerankd
