#pragma once
// Self-attention per sequence at its true length (no padding, no mask): for each sequence, one
// batched oneDNN matmul over the heads for Q K^T (scale fused), oneDNN softmax, and one batched
// matmul for P V that writes straight into the context rows. Q, K and V are read in place from the
// fused [q | k | v] projection through strided memory descriptors; primitives are cached by length.
#include <dnnl.hpp>

#include <map>
#include <vector>

namespace rerankd::cpu {

class DnnlAttention {
 public:
  DnnlAttention(dnnl::engine& engine, dnnl::stream& stream) : engine_(engine), stream_(stream) {}

  // qkv: [tokens, 3 * hidden]; context: [tokens, hidden]; sequences given by seq_starts.
  void run(const float* qkv, const std::vector<int32_t>& seq_starts, int64_t hidden, int64_t num_heads,
           float* context);

 private:
  struct Primitives {
    dnnl::memory::desc q_md, k_md, scores_md, v_md, ctx_md;
    dnnl::matmul scores;
    dnnl::softmax_forward softmax;
    dnnl::matmul context;
  };
  const Primitives& primitives(int64_t length, int64_t hidden, int64_t num_heads);

  dnnl::engine& engine_;
  dnnl::stream& stream_;
  std::map<int64_t, Primitives> cache_;  // by sequence length; one model per backend
  std::vector<float> scores_;            // [heads, L, L] scratch, grown to the longest sequence
};

}  // namespace rerankd::cpu
