#pragma once
// Self-attention per sequence at its true length (no padding, no mask). The work is cut into
// units of (sequence, group of heads) that the compute threads share; each thread runs a unit
// start to finish on its own core (oneDNN runs single-threaded inside our parallel region): one
// batched matmul over the group's heads for Q K^T, our softmax with the scale, and one batched
// matmul for P V that writes straight into the context rows. A unit's scores stay in its core's
// L2 between the three steps. Q, K and V are read in place from the fused [q | k | v] projection
// through strided memory descriptors.
//
// Measured at 256 tokens and left out: gathering a unit's Q, K and V into contiguous blocks lets
// oneDNN pick brgemm over gemm (Q K^T 98 -> 72 us, P V 106 -> 65 us a unit), but the gather and
// the scatter back cost as much (attention 188 vs 190 ms a bge-shaped 256 x 8 pass); prefetching
// the strided slices changed nothing; bf16 for P V saved ~1% end to end.
#include <dnnl.hpp>

#include <cstddef>
#include <map>
#include <utility>
#include <vector>

#include "kernels/cpu/attention_matmuls.h"

namespace rerankd::cpu {

class DnnlAttention {
 public:
  explicit DnnlAttention(dnnl::engine& engine) : engine_(engine) {}

  // qkv: [tokens, 3 * hidden]; context: [tokens, hidden]; sequences given by seq_starts.
  void run(const float* qkv, const std::vector<int32_t>& seq_starts, int64_t hidden, int64_t num_heads, int threads,
           float* context);

 private:
  struct Unit {
    int64_t begin, length, first_head, heads;
    const AttentionMatmuls* primitives;
  };
  const AttentionMatmuls& primitives(int64_t length, int64_t heads, int64_t hidden, int64_t num_heads);
  void run_unit(const Unit& unit, const float* qkv, int64_t hidden, int64_t num_heads, float* context,
                dnnl::stream& stream, AttentionScratch& scratch) const;

  static constexpr size_t kMaxCachedShapes = 512;

  dnnl::engine& engine_;
  std::map<std::pair<int64_t, int64_t>, AttentionMatmuls> cache_;  // by (length, heads per unit)
  AttentionWorkers workers_;
  std::vector<Unit> units_;
};

}  // namespace rerankd::cpu
