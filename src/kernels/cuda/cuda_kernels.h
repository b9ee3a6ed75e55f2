#pragma once
// Our CUDA kernels, behind host launchers with plain types so that host code compiled by the C++
// compiler calls them (cuda_backend.cpp) and the tests check each against a host reference. Every
// launcher enqueues on `stream` and returns at once; a launch error is thrown as Error(kInternal)
// by the caller's check (cuda_check.h). Element types are named by ElementType.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/cuda_types.h"

namespace rerankd::cuda {

enum class ElementType { kFloat32, kFloat16, kBFloat16 };
ElementType element_type(CudaPrecision precision);
int element_size(ElementType type);

// dst[i] = src[i] converted (round to nearest even); each non-finite result adds 1 to *nonfinite.
void launch_convert(const void* src, ElementType src_type, void* dst, ElementType dst_type, int64_t count,
                    int* nonfinite, cudaStream_t stream);

struct NormParams {
  const float* gamma = nullptr;
  const float* beta = nullptr;
  float eps = 1e-5f;
};

// Row t = LayerNorm(word[ids[t]] + position[positions[t]] + token_type[types[t]]): written as
// float32 to out_f32 and in `narrow_type` to out_narrow (either may be null). word is in
// `word_type`; the position and token-type tables are float32.
void launch_embed_layernorm(const int32_t* ids, const int32_t* positions, const int32_t* types, int64_t tokens,
                            int64_t width,
                            const void* word, ElementType word_type, const float* position, const float* token_type,
                            NormParams norm, float* out_f32, void* out_narrow, ElementType narrow_type,
                            cudaStream_t stream);

// Row r of inout (float32, `rows` x `width`) = LayerNorm(row r), in place; also written in
// `narrow_type` to out_narrow when it is not null.
void launch_layernorm(float* inout, int64_t rows, int64_t width, NormParams norm, void* out_narrow,
                      ElementType narrow_type, cudaStream_t stream);

// Softmax of each valid query row of each item of one attention group, over the item's valid keys;
// probabilities (`prob_type`) are 0 for masked keys and for rows past the sequence's end.
// Scores and probabilities of group item i live at scratch + i * scratch_layout.bytes + offsets.
void launch_masked_softmax(const AttentionItem* items, int64_t count, int32_t keys, int32_t queries, void* scratch,
                           ItemScratch scratch_layout, ElementType prob_type, cudaStream_t stream);

// Copies each item's context rows (queries x head_dim, `type`) into `out` ([tokens, hidden],
// heads side by side), skipping the rows past the sequence's end.
void launch_scatter_context(const AttentionItem* items, int64_t count, int32_t queries, int64_t head_dim,
                            const void* scratch, ItemScratch scratch_layout, void* out, int64_t hidden, ElementType type,
                            cudaStream_t stream);

// out row s = in row seq_starts[s] (float32 rows of `width`).
void launch_gather_rows(const float* in, const int32_t* seq_starts, int64_t sequences, int64_t width, float* out,
                        cudaStream_t stream);

enum class Activation { kNone, kGeluErf, kTanh };

// The classification head's linear layers in float32: out[r][n] = act(in[r] . weight[n] + bias[n]),
// weight [out_features, in_features] row-major (torch's layout).
void launch_small_linear(const float* in, int64_t rows, int64_t in_features, const float* weight, const float* bias,
                         int64_t out_features, Activation act, float* out, cudaStream_t stream);

// data[r][c] = act(data[r][c] + bias[c]) in place (bias may be null): the epilogue where cuBLASLt
// has none (exact erf GELU, tanh) or none was found for the shape.
void launch_bias_activation(void* data, ElementType type, int64_t rows, int64_t width, const void* bias,
                            Activation act, cudaStream_t stream);

}  // namespace rerankd::cuda
