#pragma once
// Softmax of one row in place, for attention probabilities: two passes over a row that stays in L1,
// with a vectorized exp. Called from inside the attention's per-thread units.
#include <cstdint>

namespace rerankd::cpu {

void softmax_row(float* x, int64_t n);

}  // namespace rerankd::cpu
