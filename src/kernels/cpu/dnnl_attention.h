#pragma once
// Self-attention per sequence at its true length (no padding, no mask). The work is cut into
// units of (sequence, group of heads) that the compute threads share; each thread runs a unit
// start to finish on its own core (oneDNN runs single-threaded inside our parallel region): one
// batched matmul over the group's heads for Q K^T, our softmax with the scale, and one
// batched matmul for P V that writes straight into the context rows. A unit's scores fit in its
// core's L2, so the softmax and P V read them from cache rather than from L3 or memory (with all
// heads at once, 4 MB at 256 tokens, softmax was a third of attention's time). Q, K and V are
// read in place from the fused [q | k | v] projection through strided memory descriptors.
#include <dnnl.hpp>

#include <map>
#include <utility>
#include <vector>

namespace rerankd::cpu {

class DnnlAttention {
 public:
  explicit DnnlAttention(dnnl::engine& engine) : engine_(engine) {}

  // qkv: [tokens, 3 * hidden]; context: [tokens, hidden]; sequences given by seq_starts.
  void run(const float* qkv, const std::vector<int32_t>& seq_starts, int64_t hidden, int64_t num_heads,
           float* context);

 private:
  struct Primitives {
    dnnl::memory::desc q_md, k_md, scores_md, v_md, ctx_md;
    dnnl::matmul scores;
    dnnl::matmul context;
  };
  struct Unit {
    int64_t begin, length, first_head, heads;
    const Primitives* primitives;
  };
  const Primitives& primitives(int64_t length, int64_t heads, int64_t hidden, int64_t num_heads);

  dnnl::engine& engine_;
  std::map<std::pair<int64_t, int64_t>, Primitives> cache_;  // by (length, heads per unit)
  // Per compute thread: its stream and its scores scratch, [heads, L, L], grown as needed.
  std::vector<dnnl::stream> streams_;
  std::vector<std::vector<float>> scores_;
  std::vector<Unit> units_;
};

}  // namespace rerankd::cpu
