#pragma once
// Device helpers shared by the CUDA backend's kernel files (cuda_kernels.cu,
// cuda_decoder_kernels.cu): conversions between float32 and the compute precision, warp and block
// reductions, and the dispatch from an ElementType to its C++ type. Each file gets its own copy
// (internal linkage), as nvcc compiles every .cu file on its own.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/cuda/cuda_kernels.h"

namespace rerankd::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarp = 32;

__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_float(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Sum (or max) over the block; every thread gets the result. `shared` holds one float per warp.
// Starts and ends with a barrier, so consecutive calls may reuse `shared`.
template <bool kMax>
__device__ float block_reduce(float v, float* shared) {
  const int lane = threadIdx.x % kWarp, warp = threadIdx.x / kWarp, warps = (blockDim.x + kWarp - 1) / kWarp;
  v = kMax ? warp_max(v) : warp_sum(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  float r = kMax ? -INFINITY : 0.f;
  for (int w = 0; w < warps; ++w) r = kMax ? fmaxf(r, shared[w]) : r + shared[w];
  __syncthreads();
  return r;
}

// Calls f with a value of the C++ type that `type` names.
template <typename F>
void with_type(ElementType type, F&& f) {
  switch (type) {
    case ElementType::kFloat32: f(float{}); return;
    case ElementType::kFloat16: f(__half{}); return;
    case ElementType::kBFloat16: f(__nv_bfloat16{}); return;
  }
}

}  // namespace
}  // namespace rerankd::cuda
