#include "model/memory_estimate.h"

namespace rerankd {

MemoryEstimate estimate_memory(const ModelConfig& c, const std::string& precision, const BatchBounds& bounds,
                               bool copies_tables) {
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  const int64_t element = precision == "float32" ? 4 : precision == "int8" ? 1 : 2;
  int64_t per_layer = 0;       // matrix elements
  int64_t per_token = 0;       // float32 activations a token holds at once
  int64_t tables = c.vocab_size * H;
  if (c.decoder()) {
    const int64_t Q = c.num_heads * c.head_dim(), KV = c.num_kv_heads * c.head_dim();
    per_layer = H * (Q + 2 * KV) + Q * H + 3 * H * I;
    // hidden, normed, qkv, context, gate|up (over qkv and context where it fits), the gated output.
    per_token = 2 * H + std::max(Q + 2 * KV + Q, 2 * I) + I;
  } else {
    per_layer = 4 * H * H + 2 * H * I;
    per_token = H + 3 * H + H + I;
    tables += (c.max_position_embeddings + c.type_vocab_size) * H;
  }
  MemoryEstimate e;
  e.weight_bytes = c.num_layers * per_layer * element + (copies_tables ? tables * element : 0);
  const BatchBounds largest = bounds.largest_pass(c.max_sequence_length());
  e.workspace_bytes = largest.max_tokens * per_token * 4;
  return e;
}

}  // namespace rerankd
