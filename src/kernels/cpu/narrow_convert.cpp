#include "kernels/cpu/narrow_convert.h"

#include <algorithm>
#include <bit>

#include "kernels/cpu/multiversion.h"

namespace rerankd::cpu {

// On integer bit patterns, so it vectorizes without AVX512-BF16 intrinsics.
namespace {

RERANKD_KERNEL_BODY void round_row_to_bf16_body(const float* x, int64_t n, uint16_t* y) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t bits = std::bit_cast<uint32_t>(x[i]);
    y[i] = static_cast<uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
  }
}

RERANKD_KERNEL_BODY float quantize_row_body(const float* x, int64_t n, uint8_t* q) {
  // max |x| over the bit patterns: for non-negative floats integer order is float order, and an
  // integer max reduction vectorizes where a float one (NaN and signed-zero rules) does not.
  uint32_t max_bits = 0;
  for (int64_t i = 0; i < n; ++i) max_bits = std::max(max_bits, std::bit_cast<uint32_t>(x[i]) & 0x7fffffffu);
  const float max_abs = std::bit_cast<float>(max_bits);
  const float scale = max_abs > 0.f ? kQuantizedActivationRange / max_abs : 1.f;
  for (int64_t i = 0; i < n; ++i) {
    q[i] = static_cast<uint8_t>(static_cast<int32_t>(__builtin_rintf(x[i] * scale)) + kQuantizedActivationZeroPoint);
  }
  return 1.f / scale;
}

}  // namespace

RERANKD_MULTIVERSION(void, round_row_to_bf16, (const float* x, int64_t n, uint16_t* y), (x, n, y))
RERANKD_MULTIVERSION(float, quantize_row, (const float* x, int64_t n, uint8_t* q), (x, n, q))

void round_rows_to_bf16(const float* x, int64_t rows, int64_t width, uint16_t* y) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) round_row_to_bf16(x + r * width, width, y + r * width);
}

void quantize_rows(const float* x, int64_t rows, int64_t width, uint8_t* q, float* row_inverse_scale) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) row_inverse_scale[r] = quantize_row(x + r * width, width, q + r * width);
}

}  // namespace rerankd::cpu
