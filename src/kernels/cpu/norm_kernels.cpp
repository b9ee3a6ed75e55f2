#include "kernels/cpu/norm_kernels.h"

#include <cmath>

#include "kernels/cpu/multiversion.h"

namespace rerankd::cpu {
namespace {

// Two passes (mean, then centred variance) for accuracy: LayerNorm parity is checked at 1e-4.
RERANKD_MULTIVERSION void normalize_row(float* x, int64_t width, const float* gamma, const float* beta, float eps) {
  float sum = 0.f;
  for (int64_t i = 0; i < width; ++i) sum += x[i];
  const float mean = sum / static_cast<float>(width);
  float var = 0.f;
  for (int64_t i = 0; i < width; ++i) {
    const float c = x[i] - mean;
    var += c * c;
  }
  const float inv = 1.f / std::sqrt(var / static_cast<float>(width) + eps);
  for (int64_t i = 0; i < width; ++i) x[i] = (x[i] - mean) * inv * gamma[i] + beta[i];
}

RERANKD_MULTIVERSION void sum3_row(const float* a, const float* b, const float* c, int64_t width, float* out) {
  for (int64_t i = 0; i < width; ++i) out[i] = a[i] + b[i] + c[i];
}

}  // namespace

void layer_norm_rows(float* x, int64_t rows, int64_t width, const float* gamma, const float* beta, float eps) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) normalize_row(x + r * width, width, gamma, beta, eps);
}

void embed_rows(const int32_t* ids, const int32_t* positions, int64_t rows, int64_t width, const float* word,
                const float* position, const float* token_type, const float* gamma, const float* beta, float eps,
                float* out) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    float* y = out + r * width;
    sum3_row(word + static_cast<int64_t>(ids[r]) * width, position + static_cast<int64_t>(positions[r]) * width,
             token_type, width, y);
    normalize_row(y, width, gamma, beta, eps);
  }
}

}  // namespace rerankd::cpu
