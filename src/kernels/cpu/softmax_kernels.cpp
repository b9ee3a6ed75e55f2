#include "kernels/cpu/softmax_kernels.h"

#include <algorithm>

#include "kernels/cpu/multiversion.h"
#include "kernels/cpu/vector_math.h"

namespace rerankd::cpu {

namespace {

RERANKD_KERNEL_BODY void softmax_row_body(float* x, int64_t n, float scale) {
  // Lanes for the max too, so it vectorizes (see lane_sum).
  float lane_max[kReductionLanes];
  for (float& m : lane_max) m = -3.0e38f;
  const int64_t whole = n / kReductionLanes * kReductionLanes;
  for (int64_t i = 0; i < whole; i += kReductionLanes) {
    for (int64_t j = 0; j < kReductionLanes; ++j) lane_max[j] = std::max(lane_max[j], x[i + j]);
  }
  float max = -3.0e38f;
  for (const float m : lane_max) max = std::max(max, m);
  for (int64_t i = whole; i < n; ++i) max = std::max(max, x[i]);

  const float sum = lane_sum(n, [x, max, scale](int64_t i) { return x[i] = fast_exp((x[i] - max) * scale); });
  const float inverse = 1.f / sum;
  for (int64_t i = 0; i < n; ++i) x[i] *= inverse;
}

}  // namespace

RERANKD_MULTIVERSION(void, softmax_row, (float* x, int64_t n, float scale), (x, n, scale))

}  // namespace rerankd::cpu
