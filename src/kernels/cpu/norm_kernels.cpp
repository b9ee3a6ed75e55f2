#include "kernels/cpu/norm_kernels.h"

#include <cmath>
#include <cstddef>
#include <span>

#include "kernels/cpu/multiversion.h"
#include "kernels/cpu/vector_math.h"

namespace rerankd::cpu {
namespace {

// Two passes (mean, then centred variance) for accuracy: LayerNorm parity is checked at 1e-4.
RERANKD_KERNEL_BODY void normalize_row_body(float* x, int64_t width, const float* gamma, const float* beta,
                                           float eps) {
  const float mean = lane_sum(width, [x](int64_t i) { return x[i]; }) / static_cast<float>(width);
  const float var = lane_sum(width, [x, mean](int64_t i) { return (x[i] - mean) * (x[i] - mean); });
  const float inv = 1.f / std::sqrt(var / static_cast<float>(width) + eps);
  for (int64_t i = 0; i < width; ++i) x[i] = (x[i] - mean) * inv * gamma[i] + beta[i];
}
RERANKD_MULTIVERSION(void, normalize_row, (float* x, int64_t width, const float* gamma, const float* beta, float eps),
                     (x, width, gamma, beta, eps))

RERANKD_KERNEL_BODY void sum3_row_body(const float* a, const float* b, const float* c, int64_t width, float* out) {
  for (int64_t i = 0; i < width; ++i) out[i] = a[i] + b[i] + c[i];
}
RERANKD_MULTIVERSION(void, sum3_row, (const float* a, const float* b, const float* c, int64_t width, float* out),
                     (a, b, c, width, out))

}  // namespace

void layer_norm_row(float* x, int64_t width, const LayerNormParams& norm) {
  normalize_row(x, width, norm.gamma, norm.beta, norm.eps);
}

void layer_norm_rows(float* x, int64_t rows, int64_t width, const LayerNormParams& norm, const NarrowRowsOut& narrow) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    normalize_row(x + r * width, width, norm.gamma, norm.beta, norm.eps);
    narrow.write_row(x + r * width, r, width);
  }
}

void embed_rows(const int32_t* ids, const int32_t* positions, const int32_t* types, int64_t rows, int64_t width,
                const std::byte* word, DType word_dtype, const float* position, const float* token_type,
                const LayerNormParams& norm, float* out, const NarrowRowsOut& narrow) {
  const size_t row_bytes = static_cast<size_t>(width) * dtype_size(word_dtype);
  const bool floats_in_place = word_dtype == DType::kF32 && reinterpret_cast<uintptr_t>(word) % alignof(float) == 0;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    float* y = out + r * width;
    const std::byte* row = word + static_cast<size_t>(ids[r]) * row_bytes;
    const float* word_row = y;
    if (floats_in_place) {
      word_row = reinterpret_cast<const float*>(row);
    } else {
      widen_to_f32(word_dtype, row, std::span<float>(y, static_cast<size_t>(width)));  // summed in place below
    }
    sum3_row(word_row, position + static_cast<int64_t>(positions[r]) * width,
             token_type + (types != nullptr ? static_cast<int64_t>(types[r]) * width : 0), width, y);
    normalize_row(y, width, norm.gamma, norm.beta, norm.eps);
    narrow.write_row(y, r, width);
  }
}

}  // namespace rerankd::cpu
