#pragma once
// Splits pairs into forward-pass batches: longest first, grouped by length so a batch's sequences
// are alike (attention cost, and padding on backends that pad), each batch under a token budget
// and a pair cap. Used by offline scoring and by the server's scheduler.
#include <cstddef>
#include <span>
#include <vector>

namespace rerankd {

struct BatchLimits {
  size_t max_tokens = 4096;
  size_t max_pairs = 256;
};

// Returns batches of indices into `lengths`. A pair longer than max_tokens gets a batch of its own.
std::vector<std::vector<size_t>> plan_batches(std::span<const size_t> lengths, const BatchLimits& limits);

}  // namespace rerankd
