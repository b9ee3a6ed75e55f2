#include "kernels/cpu/decoder_row_kernels.h"

#include <cmath>
#include <vector>

#include "kernels/cpu/multiversion.h"
#include "kernels/cpu/vector_math.h"

namespace rerankd::cpu {
namespace {

RERANKD_KERNEL_BODY void rms_norm_one_body(const float* x, int64_t width, const float* weight, float eps, float* y) {
  const float squares = lane_sum(width, [x](int64_t i) { return x[i] * x[i]; });
  const float inverse = 1.f / std::sqrt(squares / static_cast<float>(width) + eps);
  // (x * inverse) * weight, in Hugging Face's order.
  for (int64_t i = 0; i < width; ++i) y[i] = x[i] * inverse * weight[i];
}
RERANKD_MULTIVERSION(void, rms_norm_one,
                     (const float* x, int64_t width, const float* weight, float eps, float* y),
                     (x, width, weight, eps, y))

// silu(g) = g * sigmoid(g); gelu_tanh(g) = 0.5 g (1 + tanh(u)) = g * sigmoid(2u) with
// u = sqrt(2/pi) (g + 0.044715 g^3): one exp and one division either way, no tanh to vectorize.
RERANKD_KERNEL_BODY void gated_row_body(const float* gate, const float* up, int64_t width, bool gelu_tanh,
                                        float* y) {
  if (gelu_tanh) {
    for (int64_t i = 0; i < width; ++i) {
      const float g = gate[i];
      const float u = 0.7978845608f * (g + 0.044715f * g * g * g);
      y[i] = g / (1.f + fast_exp(-2.f * u)) * up[i];
    }
  } else {
    for (int64_t i = 0; i < width; ++i) {
      const float g = gate[i];
      y[i] = g / (1.f + fast_exp(-g)) * up[i];
    }
  }
}
RERANKD_MULTIVERSION(void, gated_row, (const float* gate, const float* up, int64_t width, bool gelu_tanh, float* y),
                     (gate, up, width, gelu_tanh, y))

// Runs row(r, y_row) over the rows in parallel, y_row in `y` or, with `y` null, in a per-thread
// buffer; then writes the row's narrow form.
template <typename Row>
void for_rows(int64_t rows, int64_t width, float* y, const NarrowRowsOut& narrow, Row&& row) {
#pragma omp parallel
  {
    std::vector<float> buffer(y == nullptr ? static_cast<size_t>(width) : 0);
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      float* out = y != nullptr ? y + r * width : buffer.data();
      row(r, out);
      narrow.write_row(out, r, width);
    }
  }
}

}  // namespace

void rms_norm_row(const float* x, int64_t width, const RmsNormParams& norm, float* y) {
  rms_norm_one(x, width, norm.weight, norm.eps, y);
}

void rms_norm_rows(const float* x, int64_t rows, int64_t width, const RmsNormParams& norm, float* y,
                   const NarrowRowsOut& narrow) {
  for_rows(rows, width, y, narrow,
           [&](int64_t r, float* out) { rms_norm_one(x + r * width, width, norm.weight, norm.eps, out); });
}

void gated_activation_rows(const float* gate_up, int64_t rows, int64_t width, GatedActivation activation, float* y,
                           const NarrowRowsOut& narrow) {
  const bool gelu_tanh = activation == GatedActivation::kGeluTanh;
  for_rows(rows, width, y, narrow, [&](int64_t r, float* out) {
    const float* gate = gate_up + r * 2 * width;
    gated_row(gate, gate + width, width, gelu_tanh, out);
  });
}

}  // namespace rerankd::cpu
