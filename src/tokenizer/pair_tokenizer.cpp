#include "tokenizer/pair_tokenizer.h"

#include <algorithm>

namespace rerankd {

bool truncate_longest_first(std::vector<int32_t>& query, std::vector<int32_t>& document, size_t budget,
                            TruncationSide side) {
  if (query.size() + document.size() <= budget) return false;
  // The shorter side stays whole when it fits in half the budget and the longer gives way;
  // otherwise both are cut to half, the longer side keeping the odd token (the document on a tie).
  const bool query_is_longer = query.size() > document.size();
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
