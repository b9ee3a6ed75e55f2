#pragma once
// softmax(scale * x) of one row in place, for attention probabilities (the 1/sqrt(head_dim) scale
// folded in): two passes over a row that stays in L1, with a vectorized exp. Called from inside the
// attention's per-thread units.
#include <cstdint>

namespace rerankd::cpu {

void softmax_row(float* x, int64_t n, float scale);

}  // namespace rerankd::cpu
