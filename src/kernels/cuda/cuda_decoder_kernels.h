#pragma once
// The CUDA kernels of a decoder's ops (Backend's "a decoder's ops": Qwen2, Qwen3, Gemma), behind
// host launchers with plain types like cuda_kernels.h's: RMSNorm, the scaled token lookup, the
// gated activation, rotary queries and keys (with Qwen3's per-head norms), causal attention over a
// packed batch and the gather of each sequence's last row. Arithmetic is float32; values are read
// from and written to the compute precision at the edges. Every launcher enqueues on `stream`.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/cuda_types.h"

namespace rerankd::cuda {

// RMSNorm's weights: y = x / sqrt(mean(x^2) + eps) * (offset + gamma).
struct RmsNormParams {
  const float* gamma = nullptr;
  float eps = 1e-6f;
  float offset = 0;
};

// Row r of out = RMSNorm(row r of in), `rows` x `width`. in is float32 (in_type kFloat32) or the
// compute precision; the result goes to out_f32 and, in `narrow_type`, to out_narrow (either may be
// null; either may be `in` itself).
void launch_rms_norm(const void* in, ElementType in_type, int64_t rows, int64_t width, RmsNormParams norm,
                     float* out_f32, void* out_narrow, ElementType narrow_type, cudaStream_t stream);

// Row t = word[ids[t]] * scale (word in `word_type`), to out_f32 and out_narrow (either may be null).
void launch_embed_tokens(const int32_t* ids, int64_t tokens, int64_t width, const void* word, ElementType word_type,
                         float scale, float* out_f32, void* out_narrow, ElementType narrow_type, cudaStream_t stream);

enum class GatedKind { kSilu, kGeluTanh };

// out[r][c] = act(gate_up[r][c]) * gate_up[r][width + c]: gate_up [rows, 2 width] and out_narrow in
// `type`, out_f32 float32 (either output may be null).
void launch_gated_activation(const void* gate_up, int64_t rows, int64_t width, GatedKind kind, void* out_narrow,
                             float* out_f32, ElementType type, cudaStream_t stream);

// Queries and keys of qkv ([tokens, (q_heads + 2 kv_heads) head_dim] in `type`, rows [q | k | v])
// in place: each q head RMS-normalised by q_norm and each k head by k_norm where their gamma is not
// null, then rotated (rotate-half) by its token's position, angle = position * inv_freq[i].
struct RotaryArgs {
  int64_t tokens = 0;
  int32_t q_heads = 0, kv_heads = 0, head_dim = 0;
  RmsNormParams q_norm, k_norm;
  RotaryFrequencies frequencies;
};
void launch_rotate_queries_keys(void* qkv, const int32_t* positions, const RotaryArgs& args, ElementType type,
                                cudaStream_t stream);

// Causal attention within each sequence of a packed batch (seq_starts[0..sequences]), no padding:
// query head h reads key/value head h / (q_heads / kv_heads), softmax(q k^T / sqrt(head_dim)) v in
// float32 with an online softmax; the contexts go to out ([tokens, q_heads head_dim], `type`).
// `longest` bounds the sequences' lengths (the grid). head_dim at most kMaxHeadDim.
struct CausalAttentionArgs {
  int64_t sequences = 0, longest = 0;
  int32_t q_heads = 0, kv_heads = 0, head_dim = 0;
};
void launch_causal_attention(const void* qkv, const int32_t* seq_starts, const CausalAttentionArgs& args, void* out,
                             ElementType type, cudaStream_t stream);

// out row s = in row seq_starts[s + 1] - 1 (float32 rows of `width`): each sequence's last token.
void launch_gather_last_rows(const float* in, const int32_t* seq_starts, int64_t sequences, int64_t width, float* out,
                             cudaStream_t stream);

}  // namespace rerankd::cuda
