#include "kernels/cpu/dnnl_attention.h"

#include <cmath>

namespace rerankd::cpu {

using dnnl::memory;
using dt = memory::data_type;

const DnnlAttention::Primitives& DnnlAttention::primitives(int64_t length, int64_t hidden, int64_t num_heads) {
  auto it = cache_.find(length);
  if (it != cache_.end()) return it->second;

  const int64_t L = length, d = hidden / num_heads, row = 3 * hidden;
  Primitives p;
  p.q_md = memory::desc({num_heads, L, d}, dt::f32, memory::dims{d, row, 1});
  p.k_md = memory::desc({num_heads, d, L}, dt::f32, memory::dims{d, 1, row});  // K^T, read in place
  p.scores_md = memory::desc({num_heads, L, L}, dt::f32, memory::format_tag::abc);
  p.v_md = memory::desc({num_heads, L, d}, dt::f32, memory::dims{d, row, 1});
  p.ctx_md = memory::desc({num_heads, L, d}, dt::f32, memory::dims{d, hidden, 1});

  dnnl::primitive_attr scaled;
  scaled.set_output_scales(0, {1.f / std::sqrt(static_cast<float>(d))});
  p.scores = dnnl::matmul({dnnl::matmul::desc(p.q_md, p.k_md, p.scores_md), scaled, engine_});
  p.softmax = dnnl::softmax_forward(
      {dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, p.scores_md, 2), engine_});
  p.context = dnnl::matmul({dnnl::matmul::desc(p.scores_md, p.v_md, p.ctx_md), engine_});
  return cache_.emplace(length, std::move(p)).first->second;
}

void DnnlAttention::run(const float* qkv, const std::vector<int32_t>& seq_starts, int64_t hidden, int64_t num_heads,
                        float* context) {
  for (size_t s = 0; s + 1 < seq_starts.size(); ++s) {
    const int64_t begin = seq_starts[s], length = seq_starts[s + 1] - seq_starts[s];
    if (length == 0) continue;
    const Primitives& p = primitives(length, hidden, num_heads);
    const size_t scores_size = static_cast<size_t>(num_heads * length * length);
    if (scores_.size() < scores_size) scores_.resize(scores_size);

    float* q = const_cast<float*>(qkv) + begin * 3 * hidden;
    memory q_mem(p.q_md, engine_, q);
    memory k_mem(p.k_md, engine_, q + hidden);
    memory v_mem(p.v_md, engine_, q + 2 * hidden);
    memory scores_mem(p.scores_md, engine_, scores_.data());
    memory ctx_mem(p.ctx_md, engine_, context + begin * hidden);

    p.scores.execute(stream_, {{DNNL_ARG_SRC, q_mem}, {DNNL_ARG_WEIGHTS, k_mem}, {DNNL_ARG_DST, scores_mem}});
    p.softmax.execute(stream_, {{DNNL_ARG_SRC, scores_mem}, {DNNL_ARG_DST, scores_mem}});
    p.context.execute(stream_, {{DNNL_ARG_SRC, scores_mem}, {DNNL_ARG_WEIGHTS, v_mem}, {DNNL_ARG_DST, ctx_mem}});
  }
}

}  // namespace rerankd::cpu
