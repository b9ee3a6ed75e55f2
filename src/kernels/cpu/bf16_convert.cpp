#include "kernels/cpu/bf16_convert.h"

#include <algorithm>
#include <bit>

#include "kernels/cpu/multiversion.h"

namespace rerankd::cpu {
namespace {

// On integer bit patterns, so it vectorizes without AVX512-BF16 intrinsics.
RERANKD_MULTIVERSION void round_span_to_bf16(const float* x, int64_t n, uint16_t* y) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t bits = std::bit_cast<uint32_t>(x[i]);
    y[i] = static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
  }
}

}  // namespace

void round_to_bf16(const float* x, int64_t n, uint16_t* y) {
  constexpr int64_t kChunk = 16384;
#pragma omp parallel for schedule(static)
  for (int64_t start = 0; start < n; start += kChunk) {
    round_span_to_bf16(x + start, std::min(kChunk, n - start), y + start);
  }
}

}  // namespace rerankd::cpu
