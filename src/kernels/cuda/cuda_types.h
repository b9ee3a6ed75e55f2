#pragma once
// Types shared by the CUDA backend's host code and its kernels (compiled by nvcc as C++17, so
// nothing here may need C++20).
#include <cstdint>

namespace rerankd::cuda {

enum class CudaPrecision { kFloat32, kFloat16, kBFloat16 };

// The widest attention head the decoder kernels take (Gemma's 256): rotary frequencies go to the
// kernels as a by-value argument and each lane of a warp holds head_dim / 32 accumulators.
constexpr int kMaxHeadDim = 256;

// A decoder's rotary frequencies, rope_theta^(-2i / head_dim) for i < head_dim / 2, passed by value.
struct RotaryFrequencies {
  float inv_freq[kMaxHeadDim / 2] = {};
};

// One item's scratch: float32 scores [queries x keys], the probabilities in the compute precision,
// and its context [queries x head_dim] in the compute precision; each region aligned.
struct ItemScratch {
  int64_t scores = 0, probabilities = 0, context = 0;  // byte offsets within the item
  int64_t bytes = 0;                                   // the item's stride
};

struct AttentionItem {
  int32_t seq_start = 0;  // first token of the sequence in the packed batch
  int32_t length = 0;     // its true length: keys and queries at or past it are masked
  int32_t head = 0;
  int32_t query0 = 0;     // first query of the chunk, within the sequence
};

}  // namespace rerankd::cuda
