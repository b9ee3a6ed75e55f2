// The CUDA kernels of a decoder's ops (cuda_decoder_kernels.h). Arithmetic is float32 throughout;
// values are read from and written to the compute precision at the edges.
#include <algorithm>

#include "kernels/cuda/cuda_decoder_kernels.h"
#include "kernels/cuda/cuda_device.cuh"

namespace rerankd::cuda {
namespace {

// Causal attention: a block takes kBlockQueries queries of one sequence and one head, kWarps warps
// of kQueriesPerWarp queries each, and walks the keys up to its last query in tiles of kKeyTile
// (one key per lane for the scores), staged in shared memory for all its queries.
constexpr int kAttentionWarps = 4;
constexpr int kQueriesPerWarp = 4;
constexpr int kBlockQueries = kAttentionWarps * kQueriesPerWarp;
constexpr int kKeyTile = kWarp;
constexpr int kPerLane = kMaxHeadDim / kWarp;         // a query's accumulators per lane
constexpr int kPairsPerLane = kMaxHeadDim / 2 / kWarp;  // rotary pairs per lane

template <typename In, typename N>
__global__ void rms_norm_kernel(const In* in, int64_t width, RmsNormParams norm, float* out_f32, N* out_narrow) {
  __shared__ float shared[kThreads / kWarp];
  const int64_t row = blockIdx.x;
  const In* x = in + row * width;
  float squares = 0;
  for (int64_t c = threadIdx.x; c < width; c += blockDim.x) {
    const float v = to_float(x[c]);
    squares += v * v;
  }
  const float inv = rsqrtf(block_reduce<false>(squares, shared) / static_cast<float>(width) + norm.eps);
  // Each element is read before the same thread writes it, so `in` may be an output.
  for (int64_t c = threadIdx.x; c < width; c += blockDim.x) {
    const float y = to_float(x[c]) * inv * (norm.offset + norm.gamma[c]);
    if (out_f32 != nullptr) out_f32[row * width + c] = y;
    if (out_narrow != nullptr) out_narrow[row * width + c] = from_float<N>(y);
  }
}

template <typename W, typename N>
__global__ void embed_tokens_kernel(const int32_t* ids, int64_t width, const W* word, float scale, float* out_f32,
                                    N* out_narrow) {
  const int64_t t = blockIdx.x;
  const W* w = word + int64_t{ids[t]} * width;
  for (int64_t c = threadIdx.x; c < width; c += blockDim.x) {
    const float y = to_float(w[c]) * scale;
    if (out_f32 != nullptr) out_f32[t * width + c] = y;
    if (out_narrow != nullptr) out_narrow[t * width + c] = from_float<N>(y);
  }
}

__device__ __forceinline__ float gate(float x, GatedKind kind) {
  if (kind == GatedKind::kSilu) return x / (1.f + expf(-x));
  // torch's gelu(approximate="tanh"): 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))).
  return 0.5f * x * (1.f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}

template <typename T>
__global__ void gated_activation_kernel(const T* gate_up, int64_t rows, int64_t width, GatedKind kind, T* out_narrow,
                                        float* out_f32) {
  const int64_t count = rows * width;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t r = i / width, c = i % width;
    const T* row = gate_up + r * 2 * width;
    const float y = gate(to_float(row[c]), kind) * to_float(row[width + c]);
    if (out_narrow != nullptr) out_narrow[i] = from_float<T>(y);
    if (out_f32 != nullptr) out_f32[i] = y;
  }
}

// One warp per (token, head) of q and k: k heads follow the q heads in a row, so head h of the
// q_heads + kv_heads starts at h * head_dim either way.
template <typename T>
__global__ void rotary_kernel(T* qkv, const int32_t* positions, RotaryArgs a) {
  const int64_t unit = (blockIdx.x * int64_t{blockDim.x} + threadIdx.x) / kWarp;
  const int heads = a.q_heads + a.kv_heads;
  if (unit >= a.tokens * heads) return;  // whole warps leave together: unit is uniform within one
  const int lane = threadIdx.x % kWarp;
  const int64_t t = unit / heads;
  const int h = static_cast<int>(unit % heads);
  const int D = a.head_dim, half = D / 2;
  T* x = qkv + t * (int64_t{a.q_heads} + 2 * a.kv_heads) * D + int64_t{h} * D;
  const RmsNormParams norm = h < a.q_heads ? a.q_norm : a.k_norm;
  float x1[kPairsPerLane], x2[kPairsPerLane];
  float squares = 0;
#pragma unroll
  for (int k = 0; k < kPairsPerLane; ++k) {
    const int i = lane + k * kWarp;
    x1[k] = i < half ? to_float(x[i]) : 0.f;
    x2[k] = i < half ? to_float(x[i + half]) : 0.f;
    squares += x1[k] * x1[k] + x2[k] * x2[k];
  }
  if (norm.gamma != nullptr) {
    const float inv = rsqrtf(warp_sum(squares) / static_cast<float>(D) + norm.eps);
#pragma unroll
    for (int k = 0; k < kPairsPerLane; ++k) {
      const int i = lane + k * kWarp;
      if (i >= half) continue;
      x1[k] *= inv * (norm.offset + norm.gamma[i]);
      x2[k] *= inv * (norm.offset + norm.gamma[i + half]);
    }
  }
  // The angle as Hugging Face forms it: the position times inv_freq, one float32 product.
  const auto position = static_cast<float>(positions[t]);
#pragma unroll
  for (int k = 0; k < kPairsPerLane; ++k) {
    const int i = lane + k * kWarp;
    if (i >= half) continue;
    float sine, cosine;
    sincosf(position * a.frequencies.inv_freq[i], &sine, &cosine);
    x[i] = from_float<T>(x1[k] * cosine - x2[k] * sine);
    x[i + half] = from_float<T>(x2[k] * cosine + x1[k] * sine);
  }
}

// Block (sequence, query tile, query head). Shared memory: the tile's queries (scaled), then a key
// tile with rows padded by one float (lane j reads row j: no bank conflicts), then its values.
template <typename T>
__global__ void causal_attention_kernel(const T* qkv, const int32_t* seq_starts, CausalAttentionArgs a, float scale,
                                        T* out) {
  extern __shared__ float tiles[];
  const int D = a.head_dim, Dk = D + 1;
  float* q_tile = tiles;
  float* k_tile = q_tile + kBlockQueries * D;
  float* v_tile = k_tile + kKeyTile * Dk;
  const int64_t s = blockIdx.x;
  const int32_t start = seq_starts[s], length = seq_starts[s + 1] - start;
  const int32_t q0 = static_cast<int32_t>(blockIdx.y) * kBlockQueries;
  if (q0 >= length) return;  // the whole block
  const int h = static_cast<int>(blockIdx.z), g = h / (a.q_heads / a.kv_heads);
  const int64_t width = (int64_t{a.q_heads} + 2 * a.kv_heads) * D;
  const int64_t q_col = int64_t{h} * D, k_col = (int64_t{a.q_heads} + g) * D,
                v_col = (int64_t{a.q_heads} + a.kv_heads + g) * D, out_width = int64_t{a.q_heads} * D;
  const T* rows = qkv + int64_t{start} * width;
  for (int idx = threadIdx.x; idx < kBlockQueries * D; idx += blockDim.x) {
    const int32_t q = q0 + idx / D;
    q_tile[idx] = q < length ? to_float(rows[int64_t{q} * width + q_col + idx % D]) * scale : 0.f;
  }
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  float m[kQueriesPerWarp], l[kQueriesPerWarp], acc[kQueriesPerWarp][kPerLane];
#pragma unroll
  for (int r = 0; r < kQueriesPerWarp; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.f;
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) acc[r][k] = 0.f;
  }
  const int32_t key_end = min(length, q0 + kBlockQueries);  // the block's last query sees keys < key_end
  for (int32_t kt = 0; kt < key_end; kt += kKeyTile) {
    __syncthreads();  // the last tile is consumed (and, the first time, the queries are staged)
    for (int idx = threadIdx.x; idx < kKeyTile * D; idx += blockDim.x) {
      const int j = idx / D, d = idx % D;
      const bool valid = kt + j < key_end;
      const T* row = rows + int64_t{kt + j} * width;
      k_tile[j * Dk + d] = valid ? to_float(row[k_col + d]) : 0.f;
      v_tile[j * D + d] = valid ? to_float(row[v_col + d]) : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kQueriesPerWarp; ++r) {
      const int qr = warp * kQueriesPerWarp + r;
      const int32_t q = q0 + qr;
      if (q >= length || kt > q) continue;  // uniform within the warp
      const int32_t key = kt + lane;
      float score = -INFINITY;
      if (key <= q) {
        const float* qv = q_tile + qr * D;
        const float* kv = k_tile + lane * Dk;
        float dot = 0.f;
        for (int d = 0; d < D; ++d) dot += qv[d] * kv[d];
        score = dot;
      }
      const float next_m = fmaxf(m[r], warp_max(score));  // finite: key kt <= q
      const float p = key <= q ? expf(score - next_m) : 0.f;
      const float correction = expf(m[r] - next_m);  // 0 the first time (m = -inf)
      l[r] = l[r] * correction + warp_sum(p);
      m[r] = next_m;
      const int keys = min(kKeyTile, q - kt + 1);
#pragma unroll
      for (int k = 0; k < kPerLane; ++k) acc[r][k] *= correction;
      for (int j = 0; j < keys; ++j) {
        const float pj = __shfl_sync(0xffffffffu, p, j);
#pragma unroll
        for (int k = 0; k < kPerLane; ++k) {
          const int d = lane + k * kWarp;
          if (d < D) acc[r][k] += pj * v_tile[j * D + d];
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kQueriesPerWarp; ++r) {
    const int32_t q = q0 + warp * kQueriesPerWarp + r;
    if (q >= length) continue;
    T* dst = out + (int64_t{start} + q) * out_width + q_col;
    const float inv = 1.f / l[r];
#pragma unroll
    for (int k = 0; k < kPerLane; ++k) {
      const int d = lane + k * kWarp;
      if (d < D) dst[d] = from_float<T>(acc[r][k] * inv);
    }
  }
}

__global__ void gather_last_rows_kernel(const float* in, const int32_t* seq_starts, int64_t width, float* out) {
  const float* src = in + (int64_t{seq_starts[blockIdx.x + 1]} - 1) * width;
  float* dst = out + int64_t{blockIdx.x} * width;
  for (int64_t c = threadIdx.x; c < width; c += blockDim.x) dst[c] = src[c];
}

unsigned elementwise_grid(int64_t count) {
  return static_cast<unsigned>(std::clamp<int64_t>((count + kThreads - 1) / kThreads, 1, 65535 * 8));
}

}  // namespace

void launch_rms_norm(const void* in, ElementType in_type, int64_t rows, int64_t width, RmsNormParams norm,
                     float* out_f32, void* out_narrow, ElementType narrow_type, cudaStream_t stream) {
  if (rows <= 0) return;
  with_type(in_type, [&](auto i) {
    with_type(narrow_type, [&](auto n) {
      using In = decltype(i);
      using N = decltype(n);
      rms_norm_kernel<In, N><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
          static_cast<const In*>(in), width, norm, out_f32, static_cast<N*>(out_narrow));
    });
  });
}

void launch_embed_tokens(const int32_t* ids, int64_t tokens, int64_t width, const void* word, ElementType word_type,
                         float scale, float* out_f32, void* out_narrow, ElementType narrow_type, cudaStream_t stream) {
  if (tokens <= 0) return;
  with_type(word_type, [&](auto w) {
    with_type(narrow_type, [&](auto n) {
      using W = decltype(w);
      using N = decltype(n);
      embed_tokens_kernel<W, N><<<static_cast<unsigned>(tokens), kThreads, 0, stream>>>(
          ids, width, static_cast<const W*>(word), scale, out_f32, static_cast<N*>(out_narrow));
    });
  });
}

void launch_gated_activation(const void* gate_up, int64_t rows, int64_t width, GatedKind kind, void* out_narrow,
                             float* out_f32, ElementType type, cudaStream_t stream) {
  if (rows * width <= 0) return;
  with_type(type, [&](auto t) {
    using T = decltype(t);
    gated_activation_kernel<T><<<elementwise_grid(rows * width), kThreads, 0, stream>>>(
        static_cast<const T*>(gate_up), rows, width, kind, static_cast<T*>(out_narrow), out_f32);
  });
}

void launch_rotate_queries_keys(void* qkv, const int32_t* positions, const RotaryArgs& args, ElementType type,
                                cudaStream_t stream) {
  const int64_t threads = args.tokens * (args.q_heads + args.kv_heads) * kWarp;
  if (threads <= 0) return;
  const auto blocks = static_cast<unsigned>((threads + kThreads - 1) / kThreads);
  with_type(type, [&](auto t) {
    using T = decltype(t);
    rotary_kernel<T><<<blocks, kThreads, 0, stream>>>(static_cast<T*>(qkv), positions, args);
  });
}

void launch_causal_attention(const void* qkv, const int32_t* seq_starts, const CausalAttentionArgs& args, void* out,
                             ElementType type, cudaStream_t stream) {
  if (args.sequences <= 0 || args.longest <= 0) return;
  const int D = args.head_dim;
  const dim3 grid(static_cast<unsigned>(args.sequences),
                  static_cast<unsigned>((args.longest + kBlockQueries - 1) / kBlockQueries),
                  static_cast<unsigned>(args.q_heads));
  const size_t shared = static_cast<size_t>(kBlockQueries * D + kKeyTile * (D + 1) + kKeyTile * D) * sizeof(float);
  const float scale = 1.f / sqrtf(static_cast<float>(D));
  with_type(type, [&](auto t) {
    using T = decltype(t);
    // Past 48 KB (head_dim 256: 82 KB) a kernel must opt in to its dynamic shared memory.
    if (shared > 48 * 1024) {
      cudaFuncSetAttribute(causal_attention_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(shared));
    }
    causal_attention_kernel<T><<<grid, kAttentionWarps * kWarp, shared, stream>>>(
        static_cast<const T*>(qkv), seq_starts, args, scale, static_cast<T*>(out));
  });
}

void launch_gather_last_rows(const float* in, const int32_t* seq_starts, int64_t sequences, int64_t width, float* out,
                             cudaStream_t stream) {
  if (sequences <= 0) return;
  gather_last_rows_kernel<<<static_cast<unsigned>(sequences), kThreads, 0, stream>>>(in, seq_starts, width, out);
}

}  // namespace rerankd::cuda
