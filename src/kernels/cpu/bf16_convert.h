#pragma once
// float32 -> bfloat16 for the inputs of bf16 matmuls (round to nearest even), in parallel over the
// backend's OpenMP threads. The values are finite activations, so NaN handling is not needed.
#include <cstdint>

namespace rerankd::cpu {

void round_to_bf16(const float* x, int64_t n, uint16_t* y);

}  // namespace rerankd::cpu
