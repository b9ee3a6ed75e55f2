#include "engine/token_estimate.h"

#include <algorithm>
#include <cmath>

namespace rerankd {

void TokenEstimate::learn(size_t text_bytes, size_t tokens) {
  if (text_bytes == 0) return;
  const size_t text_tokens = tokens > special_ ? tokens - special_ : 0;
  const float ratio = static_cast<float>(text_tokens) / static_cast<float>(text_bytes);
  ratios_[learnt_.fetch_add(1) % kWindow].store(ratio, std::memory_order_relaxed);
}

size_t TokenEstimate::at_least(size_t text_bytes) const {
  if (learnt_.load(std::memory_order_relaxed) < kWindow) return std::min(special_, max_length_);
  float sparsest = ratios_[0].load(std::memory_order_relaxed);
  for (const auto& r : ratios_) sparsest = std::min(sparsest, r.load(std::memory_order_relaxed));
  const double tokens = std::floor(static_cast<double>(sparsest) * static_cast<double>(text_bytes));
  return std::min(max_length_, special_ + static_cast<size_t>(std::min(tokens, 1e12)));
}

}  // namespace rerankd
