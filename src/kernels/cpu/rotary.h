#pragma once
// Rotary position embeddings for a decoder's queries and keys, in place on the fused [q | k | v]
// rows, with the optional per-head RMSNorm (Qwen3's q_norm / k_norm) applied to each head just
// before its rotation, while the head is in cache.
//
// The angles follow Hugging Face's float32 arithmetic, not exact math, so that positions far from
// 0 rotate as the reference does: inv_freq_i = 1 / theta^(2i / d) and position * inv_freq_i are
// rounded to float32; only their cos and sin are computed in double. They are tabulated per
// (theta, head_dim) for positions 0..N-1 and kept across passes: every layer of every pass
// reads the same rows.
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cpu/decoder_row_kernels.h"

namespace rerankd::cpu {

class RotaryTables {
 public:
  // Rows [position][cos 0..d/2-1 | sin 0..d/2-1] for positions 0..positions-1 at least.
  const float* table(double theta, int64_t head_dim, int64_t positions);

 private:
  struct Table {
    int64_t positions = 0;
    std::vector<float> cos_sin;
  };
  std::map<std::pair<double, int64_t>, Table> tables_;
};

// qkv: [tokens, q_width + 2 kv_width] float32; positions: one per token, each below the table's
// positions. Norms null: none.
void rotate_queries_keys_rows(float* qkv, int64_t tokens, const int32_t* positions, const DecoderAttentionShape& shape,
                              const float* table, const RmsNormParams* q_norm, const RmsNormParams* k_norm);

}  // namespace rerankd::cpu
