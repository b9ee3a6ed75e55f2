#include "engine/batch_planner.h"

#include <algorithm>
#include <numeric>

namespace rerankd {

std::vector<std::vector<size_t>> plan_batches(std::span<const size_t> lengths, const BatchLimits& limits) {
  std::vector<size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return lengths[a] > lengths[b]; });

  std::vector<std::vector<size_t>> batches;
  std::vector<size_t> current;
  size_t tokens = 0;
  for (size_t i : order) {
    if (!current.empty() && (tokens + lengths[i] > limits.max_tokens || current.size() >= limits.max_pairs)) {
      batches.push_back(std::move(current));
      current.clear();
      tokens = 0;
    }
    current.push_back(i);
    tokens += lengths[i];
  }
  if (!current.empty()) batches.push_back(std::move(current));
  return batches;
}

}  // namespace rerankd
