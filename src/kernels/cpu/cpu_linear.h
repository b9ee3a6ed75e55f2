#pragma once
// A CPU linear layer, whatever its weight precision. It reads its input in the form it computes in
// (CpuMatrix converts if needed) and writes whichever forms the output matrix keeps. `rows` is
// already rounded to kRowAlignment.
#include "kernels/backend.h"
#include "kernels/cpu/cpu_matrix.h"
#include "kernels/cpu/norm_kernels.h"
#include "kernels/cpu/page_allocator.h"

namespace rerankd::cpu {

struct CpuLinear : LinearWeights {
  // dst = epilogue(src W^T + b)
  virtual void forward(const CpuMatrix& src, int64_t rows, Epilogue epilogue, CpuMatrix& dst) const = 0;
  // dst = LayerNorm(dst + src W^T + b), float32 values and narrow form both.
  virtual void forward_residual_norm(const CpuMatrix& src, int64_t rows, const LayerNormParams& norm,
                                     CpuMatrix& dst) const = 0;
  // dst += src W^T + b on dst's float32 values; its narrow form goes stale (a decoder's residual
  // stream is read next by an RMSNorm, in float32, which writes the narrow form its linear reads).
  virtual void forward_residual(const CpuMatrix& src, int64_t rows, CpuMatrix& dst) const = 0;
};

// Stacks the [out_i, in] blocks (torch layout) and their biases into one float32 [out, in] matrix.
// No biases (a Linear without bias): `bias` stays empty, and the runners add none.
struct StackedWeights {
  int64_t in = 0, out = 0;
  // [out, in] row-major. A temporary of up to 16 MB per layer (bge-m3's FFN) that the runner
  // packs and drops: in pages of its own, so that dropping it frees them (page_allocator.h).
  PageVector<float> weights;
  std::vector<float> bias;     // [out], or empty
};
StackedWeights stack_weights(std::span<const TensorView* const> weights, std::span<const TensorView* const> biases);

}  // namespace rerankd::cpu
