#pragma once
// A decoder's row-wise kernels: RMSNorm and the gated feed-forward's activation. Like the
// LayerNorm (norm_kernels.h) they write each row's narrow form while it is in cache, for the
// linear layer that reads them next; `y` null: the row goes only to its narrow form (a matrix
// kept only as bf16 or int8), through a per-thread buffer. Rows run in parallel on OpenMP.
#include <cstdint>

#include "kernels/backend.h"
#include "kernels/cpu/narrow_convert.h"

namespace rerankd::cpu {

struct RmsNormParams {
  const float* weight;  // offset + gamma, folded at load
  float eps;
};

// y = x / sqrt(mean(x^2) + eps) * weight; y may be x.
void rms_norm_row(const float* x, int64_t width, const RmsNormParams& norm, float* y);
void rms_norm_rows(const float* x, int64_t rows, int64_t width, const RmsNormParams& norm, float* y,
                   const NarrowRowsOut& narrow);

// y[r] = act(gate[r]) * up[r], where row r of gate_up is [gate | up], each `width` wide.
void gated_activation_rows(const float* gate_up, int64_t rows, int64_t width, GatedActivation activation, float* y,
                           const NarrowRowsOut& narrow);

}  // namespace rerankd::cpu
