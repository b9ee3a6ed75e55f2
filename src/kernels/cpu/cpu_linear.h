#pragma once
// A CPU linear layer, whatever its weight precision: dst[rows, out] (=|+=) epilogue(src W^T + b)
// over float32 activations. `rows` is already rounded to kRowAlignment.
#include "kernels/backend.h"

namespace rerankd::cpu {

struct CpuLinear : LinearWeights {
  virtual void forward(const float* src, int64_t rows, Epilogue epilogue, bool accumulate, float* dst) const = 0;
};

// Stacks the [out_i, in] blocks (torch layout) and their biases into one float32 [out, in] matrix.
struct StackedWeights {
  int64_t in = 0, out = 0;
  std::vector<float> weights;  // [out, in] row-major
  std::vector<float> bias;     // [out]
};
StackedWeights stack_weights(std::span<const TensorView* const> weights, std::span<const TensorView* const> biases);

}  // namespace rerankd::cpu
