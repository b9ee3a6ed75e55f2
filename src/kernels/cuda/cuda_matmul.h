#pragma once
// Linear layers through cuBLASLt: D[T, N] = X[T, K] W[N, K]^T (+ beta C) with a fused bias or
// bias + GELU epilogue, float32 accumulation (no TF32; split-K sums reduced in float32). Row-major activations and torch-layout
// weights are column-major matrices to cuBLASLt: D^T (N x T) = op(W^T) (N x K) * X^T (K x T).
// Descriptors and the heuristic's algorithm are cached per shape (tokens vary per pass; layers
// share shapes). When the heuristic offers no algorithm with the epilogue, the matmul runs
// without it and our bias/activation kernel follows.
#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "kernels/cuda/cuda_kernels.h"

namespace rerankd::cuda {

// The cuBLAS name of an element type (matmuls here, batched attention in the backend).
cudaDataType_t cuda_type(ElementType type);

struct MatmulArgs {
  const void* weight = nullptr;  // [N, K] row-major, `in_type`
  const void* input = nullptr;   // [T, K] row-major, `in_type`
  void* output = nullptr;        // [T, N] row-major, `out_type`; with accumulate, also C (in place)
  const void* bias = nullptr;    // [N], `out_type` (cuBLASLt's bias is D's type); null: no bias
  int64_t tokens = 0, in_features = 0, out_features = 0;
  ElementType in_type = ElementType::kFloat32, out_type = ElementType::kFloat32;
  bool gelu = false;        // fused bias + GELU (cuBLASLt's GELU, the tanh form)
  bool accumulate = false;  // D = X W^T + b + D (the residual, in place)
};

class LtMatmul {
 public:
  LtMatmul(void* workspace, int64_t workspace_bytes);
  ~LtMatmul();
  LtMatmul(const LtMatmul&) = delete;
  LtMatmul& operator=(const LtMatmul&) = delete;

  void run(const MatmulArgs& args, cudaStream_t stream);
  // How many (shape, epilogue) plans fell back to a separate bias/activation kernel.
  int fallbacks() const { return fallbacks_; }

 private:
  struct Plan;
  using Key = std::tuple<int64_t, int64_t, int64_t, int, int, bool, bool, bool>;  // ..., gelu, accumulate, bias
  Plan& plan_for(const MatmulArgs& args);

  cublasLtHandle_t handle_ = nullptr;
  void* workspace_;
  int64_t workspace_bytes_;
  std::map<Key, std::unique_ptr<Plan>> plans_;
  int fallbacks_ = 0;
};

}  // namespace rerankd::cuda
