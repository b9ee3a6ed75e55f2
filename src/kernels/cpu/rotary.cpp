#include "kernels/cpu/rotary.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu/multiversion.h"

namespace rerankd::cpu {
namespace {

RERANKD_KERNEL_BODY void rotate_half_body(float* x, int64_t half, const float* cos, const float* sin) {
  for (int64_t i = 0; i < half; ++i) {
    const float x1 = x[i], x2 = x[i + half];
    x[i] = x1 * cos[i] - x2 * sin[i];
    x[i + half] = x2 * cos[i] + x1 * sin[i];
  }
}
RERANKD_MULTIVERSION(void, rotate_half, (float* x, int64_t half, const float* cos, const float* sin),
                     (x, half, cos, sin))

}  // namespace

const float* RotaryTables::table(double theta, int64_t head_dim, int64_t positions) {
  Table& t = tables_[{theta, head_dim}];
  if (t.positions >= positions) return t.cos_sin.data();
  // Grown in steps, so a server's slowly rising lengths rebuild it a few times only.
  const int64_t count = std::max<int64_t>(positions, std::max<int64_t>(2 * t.positions, 512));
  const int64_t half = head_dim / 2;
  std::vector<float> inverse_frequency(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    inverse_frequency[static_cast<size_t>(i)] = 1.f / std::pow(static_cast<float>(theta), exponent);
  }
  t.cos_sin.resize(static_cast<size_t>(count * head_dim));
  for (int64_t p = 0; p < count; ++p) {
    float* row = t.cos_sin.data() + p * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const float angle = static_cast<float>(p) * inverse_frequency[static_cast<size_t>(i)];
      row[i] = static_cast<float>(std::cos(static_cast<double>(angle)));
      row[half + i] = static_cast<float>(std::sin(static_cast<double>(angle)));
    }
  }
  t.positions = count;
  return t.cos_sin.data();
}

void rotate_queries_keys_rows(float* qkv, int64_t tokens, const int32_t* positions, const DecoderAttentionShape& shape,
                              const float* table, const RmsNormParams* q_norm, const RmsNormParams* k_norm) {
  const int64_t d = shape.head_dim, half = d / 2, row_width = shape.q_width() + 2 * shape.kv_width();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tokens; ++t) {
    float* row = qkv + t * row_width;
    const float* cos = table + static_cast<int64_t>(positions[t]) * d;
    const float* sin = cos + half;
    for (int64_t h = 0; h < shape.q_heads + shape.kv_heads; ++h) {
      float* head = row + h * d;  // q's heads, then k's
      const RmsNormParams* norm = h < shape.q_heads ? q_norm : k_norm;
      if (norm != nullptr) rms_norm_row(head, d, *norm, head);
      rotate_half(head, half, cos, sin);
    }
  }
}

}  // namespace rerankd::cpu
