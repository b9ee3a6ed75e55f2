// The CUDA backend's own kernels (cuda_kernels.h). Arithmetic is float32 throughout; values are
// read from and written to the compute precision at the edges.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

#include "kernels/cuda/cuda_device.cuh"
#include "kernels/cuda/cuda_kernels.h"

namespace rerankd::cuda {
namespace {

// LayerNorm of the row staged in shared memory `row` (width floats), written to the outputs.
// Two passes (mean, then the centred sum of squares), like the CPU's kernel.
template <typename N>
__device__ void normalise_row(const float* row, int64_t width, NormParams norm, float* out_f32, N* out_narrow,
                              float* shared) {
  float sum = 0;
  for (int64_t c = threadIdx.x; c < width; c += blockDim.x) sum += row[c];
  const float mean = block_reduce<false>(sum, shared) / static_cast<float>(width);
  float squares = 0;
  for (int64_t c = threadIdx.x; c < width; c += blockDim.x) {
    const float d = row[c] - mean;
    squares += d * d;
  }
  const float variance = block_reduce<false>(squares, shared) / static_cast<float>(width);
  const float inv = rsqrtf(variance + norm.eps);
  for (int64_t c = threadIdx.x; c < width; c += blockDim.x) {
    const float y = (row[c] - mean) * inv * norm.gamma[c] + norm.beta[c];
    if (out_f32 != nullptr) out_f32[c] = y;
    if (out_narrow != nullptr) out_narrow[c] = from_float<N>(y);
  }
}

template <typename Src, typename Dst>
__global__ void convert_kernel(const Src* src, Dst* dst, int64_t count, int* nonfinite) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x) {
    const Dst d = from_float<Dst>(to_float(src[i]));
    if (!isfinite(to_float(d))) atomicAdd(nonfinite, 1);
    dst[i] = d;
  }
}

template <typename W, typename N>
__global__ void embed_layernorm_kernel(const int32_t* ids, const int32_t* positions, const int32_t* types,
                                       int64_t width, const W* word,
                                       const float* position, const float* token_type, NormParams norm, float* out_f32,
                                       N* out_narrow) {
  extern __shared__ float row[];  // width floats, then one per warp
  float* shared = row + width;
  const int64_t t = blockIdx.x;
  const W* w = word + int64_t{ids[t]} * width;
  const float* p = position + int64_t{positions[t]} * width;
  const float* k = token_type + int64_t{types[t]} * width;
  for (int64_t c = threadIdx.x; c < width; c += blockDim.x) row[c] = to_float(w[c]) + p[c] + k[c];
  __syncthreads();
  normalise_row<N>(row, width, norm, out_f32 == nullptr ? nullptr : out_f32 + t * width,
                   out_narrow == nullptr ? nullptr : out_narrow + t * width, shared);
}

template <typename N>
__global__ void layernorm_kernel(float* inout, int64_t width, NormParams norm, N* out_narrow) {
  extern __shared__ float row[];
  float* shared = row + width;
  float* x = inout + int64_t{blockIdx.x} * width;
  for (int64_t c = threadIdx.x; c < width; c += blockDim.x) row[c] = x[c];
  __syncthreads();
  normalise_row<N>(row, width, norm, x, out_narrow == nullptr ? nullptr : out_narrow + int64_t{blockIdx.x} * width,
                   shared);
}

// Block (q, i): query row q of group item i.
template <typename P>
__global__ void masked_softmax_kernel(const AttentionItem* items, int32_t keys, int32_t queries, char* scratch,
                                      ItemScratch layout) {
  __shared__ float shared[kThreads / kWarp];
  const AttentionItem item = items[blockIdx.y];
  const int32_t q = blockIdx.x;
  char* base = scratch + int64_t{blockIdx.y} * layout.bytes;
  const float* scores = reinterpret_cast<const float*>(base + layout.scores) + int64_t{q} * keys;
  P* probs = reinterpret_cast<P*>(base + layout.probabilities) + int64_t{q} * keys;
  const bool valid_row = item.query0 + q < item.length;
  const int32_t valid = valid_row ? min(item.length, keys) : 0;
  float m = -INFINITY;
  for (int32_t j = threadIdx.x; j < valid; j += blockDim.x) m = fmaxf(m, scores[j]);
  m = block_reduce<true>(m, shared);
  float sum = 0;
  for (int32_t j = threadIdx.x; j < valid; j += blockDim.x) sum += expf(scores[j] - m);
  sum = block_reduce<false>(sum, shared);
  const float inv = valid > 0 ? 1.f / sum : 0.f;
  for (int32_t j = threadIdx.x; j < keys; j += blockDim.x) {
    probs[j] = from_float<P>(j < valid ? expf(scores[j] - m) * inv : 0.f);
  }
}

template <typename T>
__global__ void scatter_context_kernel(const AttentionItem* items, int32_t queries, int64_t head_dim,
                                       const char* scratch, ItemScratch layout, T* out, int64_t hidden) {
  const AttentionItem item = items[blockIdx.y];
  const int32_t q = blockIdx.x;
  if (item.query0 + q >= item.length) return;
  const T* ctx = reinterpret_cast<const T*>(scratch + int64_t{blockIdx.y} * layout.bytes + layout.context) +
                 int64_t{q} * head_dim;
  T* dst = out + (int64_t{item.seq_start} + item.query0 + q) * hidden + int64_t{item.head} * head_dim;
  for (int64_t d = threadIdx.x; d < head_dim; d += blockDim.x) dst[d] = ctx[d];
  (void)queries;
}

__global__ void gather_rows_kernel(const float* in, const int32_t* seq_starts, int64_t width, float* out) {
  const float* src = in + int64_t{seq_starts[blockIdx.x]} * width;
  float* dst = out + int64_t{blockIdx.x} * width;
  for (int64_t c = threadIdx.x; c < width; c += blockDim.x) dst[c] = src[c];
}

__device__ __forceinline__ float activate(float x, Activation act) {
  switch (act) {
    case Activation::kGeluErf: return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
    case Activation::kTanh: return tanhf(x);
    case Activation::kNone: break;
  }
  return x;
}

// One warp per output element.
__global__ void small_linear_kernel(const float* in, int64_t rows, int64_t in_features, const float* weight,
                                    const float* bias, int64_t out_features, Activation act, float* out) {
  const int64_t warp = (blockIdx.x * int64_t{blockDim.x} + threadIdx.x) / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (warp >= rows * out_features) return;  // whole warps leave together: warp is uniform within one
  const int64_t r = warp / out_features, n = warp % out_features;
  const float* x = in + r * in_features;
  const float* w = weight + n * in_features;
  float sum = 0;
  for (int64_t k = lane; k < in_features; k += kWarp) sum += x[k] * w[k];
  sum = warp_sum(sum);
  if (lane == 0) out[r * out_features + n] = activate(sum + (bias != nullptr ? bias[n] : 0.f), act);
}

template <typename T>
__global__ void bias_activation_kernel(T* data, int64_t rows, int64_t width, const T* bias, Activation act) {
  const int64_t count = rows * width;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x) {
    float v = to_float(data[i]);
    if (bias != nullptr) v += to_float(bias[i % width]);
    data[i] = from_float<T>(activate(v, act));
  }
}

unsigned grid_for(int64_t count) {
  return static_cast<unsigned>(std::clamp<int64_t>((count + kThreads - 1) / kThreads, 1, 65535 * 8));
}

size_t norm_shared_bytes(int64_t width) { return (static_cast<size_t>(width) + kThreads / kWarp) * sizeof(float); }

}  // namespace

ElementType element_type(CudaPrecision precision) {
  switch (precision) {
    case CudaPrecision::kFloat32: return ElementType::kFloat32;
    case CudaPrecision::kFloat16: return ElementType::kFloat16;
    case CudaPrecision::kBFloat16: return ElementType::kBFloat16;
  }
  return ElementType::kFloat32;
}

int element_size(ElementType type) { return type == ElementType::kFloat32 ? 4 : 2; }

void launch_convert(const void* src, ElementType src_type, void* dst, ElementType dst_type, int64_t count,
                    int* nonfinite, cudaStream_t stream) {
  if (count <= 0) return;
  with_type(src_type, [&](auto s) {
    with_type(dst_type, [&](auto d) {
      using S = decltype(s);
      using D = decltype(d);
      convert_kernel<S, D><<<grid_for(count), kThreads, 0, stream>>>(static_cast<const S*>(src), static_cast<D*>(dst),
                                                                     count, nonfinite);
    });
  });
}

void launch_embed_layernorm(const int32_t* ids, const int32_t* positions, const int32_t* types, int64_t tokens,
                            int64_t width,
                            const void* word, ElementType word_type, const float* position, const float* token_type,
                            NormParams norm, float* out_f32, void* out_narrow, ElementType narrow_type,
                            cudaStream_t stream) {
  if (tokens <= 0) return;
  with_type(word_type, [&](auto w) {
    with_type(narrow_type, [&](auto n) {
      using W = decltype(w);
      using N = decltype(n);
      embed_layernorm_kernel<W, N><<<static_cast<unsigned>(tokens), kThreads, norm_shared_bytes(width), stream>>>(
          ids, positions, types, width, static_cast<const W*>(word), position, token_type, norm, out_f32,
          static_cast<N*>(out_narrow));
    });
  });
}

void launch_layernorm(float* inout, int64_t rows, int64_t width, NormParams norm, void* out_narrow,
                      ElementType narrow_type, cudaStream_t stream) {
  if (rows <= 0) return;
  with_type(narrow_type, [&](auto n) {
    using N = decltype(n);
    layernorm_kernel<N><<<static_cast<unsigned>(rows), kThreads, norm_shared_bytes(width), stream>>>(
        inout, width, norm, static_cast<N*>(out_narrow));
  });
}

void launch_masked_softmax(const AttentionItem* items, int64_t count, int32_t keys, int32_t queries, void* scratch,
                           ItemScratch layout, ElementType prob_type, cudaStream_t stream) {
  if (count <= 0) return;
  const dim3 grid(static_cast<unsigned>(queries), static_cast<unsigned>(count));
  with_type(prob_type, [&](auto p) {
    using P = decltype(p);
    masked_softmax_kernel<P><<<grid, kThreads, 0, stream>>>(items, keys, queries, static_cast<char*>(scratch), layout);
  });
}

void launch_scatter_context(const AttentionItem* items, int64_t count, int32_t queries, int64_t head_dim,
                            const void* scratch, ItemScratch layout, void* out, int64_t hidden, ElementType type,
                            cudaStream_t stream) {
  if (count <= 0) return;
  const dim3 grid(static_cast<unsigned>(queries), static_cast<unsigned>(count));
  const unsigned threads = static_cast<unsigned>(std::clamp<int64_t>(head_dim, kWarp, 1024));
  with_type(type, [&](auto t) {
    using T = decltype(t);
    scatter_context_kernel<T><<<grid, threads, 0, stream>>>(items, queries, head_dim, static_cast<const char*>(scratch),
                                                            layout, static_cast<T*>(out), hidden);
  });
}

void launch_gather_rows(const float* in, const int32_t* seq_starts, int64_t sequences, int64_t width, float* out,
                        cudaStream_t stream) {
  if (sequences <= 0) return;
  gather_rows_kernel<<<static_cast<unsigned>(sequences), kThreads, 0, stream>>>(in, seq_starts, width, out);
}

void launch_small_linear(const float* in, int64_t rows, int64_t in_features, const float* weight, const float* bias,
                         int64_t out_features, Activation act, float* out, cudaStream_t stream) {
  const int64_t warps = rows * out_features;
  if (warps <= 0) return;
  const int64_t blocks = (warps * kWarp + kThreads - 1) / kThreads;
  small_linear_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(in, rows, in_features, weight, bias,
                                                                              out_features, act, out);
}

void launch_bias_activation(void* data, ElementType type, int64_t rows, int64_t width, const void* bias,
                            Activation act, cudaStream_t stream) {
  if (rows * width <= 0) return;
  with_type(type, [&](auto t) {
    using T = decltype(t);
    bias_activation_kernel<T><<<grid_for(rows * width), kThreads, 0, stream>>>(
        static_cast<T*>(data), rows, width, static_cast<const T*>(bias), act);
  });
}

}  // namespace rerankd::cuda
