#pragma once
// A decoder's causal self-attention with grouped-query heads, per sequence at its true length.
// Built like the encoder's (dnnl_attention.h): units of work that the compute threads share, each
// run start to finish on one core with oneDNN single-threaded inside, Q, K and V read in place
// from the fused [q | k | v] rows through strided memory descriptors, our softmax in between.
//
// A unit is (sequence, block of queries, query heads sharing one key/value head). Query block
// [r0, r1) needs only keys [0, r1), so blocks skip most of the masked upper triangle (at 256
// tokens in blocks of 64: 62% of the full square's multiply-adds); within a block the softmax
// zeroes the masked probabilities. A unit's query heads share their K and V: one batched matmul
// over them with K^T and V broadcast along the batch, so each K/V slice is read once a unit.
#include <dnnl.hpp>

#include <cstddef>
#include <map>
#include <tuple>
#include <vector>

#include "kernels/backend.h"

#include "kernels/cpu/attention_matmuls.h"

namespace rerankd::cpu {

class CausalAttention {
 public:
  explicit CausalAttention(dnnl::engine& engine) : engine_(engine) {}

  // qkv: [tokens, q_width + 2 kv_width]; context: [tokens, q_width]; sequences given by seq_starts.
  void run(const float* qkv, const std::vector<int32_t>& seq_starts, const DecoderAttentionShape& shape, int threads,
           float* context);

 private:
  struct Unit {
    int64_t begin;        // the sequence's first token
    int64_t first_query;  // within the sequence; the unit's keys are [0, first_query + queries)
    int64_t queries, first_head, heads;
    const AttentionMatmuls* primitives;
  };
  // By (queries, keys, heads per unit, q heads, kv heads, head_dim).
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>;

  const AttentionMatmuls& primitives(int64_t queries, int64_t keys, int64_t heads, const DecoderAttentionShape& shape);
  void run_unit(const Unit& unit, const float* qkv, const DecoderAttentionShape& shape, float* context,
                dnnl::stream& stream, AttentionScratch& scratch) const;

  static constexpr size_t kMaxCachedShapes = 512;

  dnnl::engine& engine_;
  std::map<Key, AttentionMatmuls> cache_;
  AttentionWorkers workers_;
  std::vector<Unit> units_;
};

}  // namespace rerankd::cpu
