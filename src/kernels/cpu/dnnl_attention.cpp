#include "kernels/cpu/dnnl_attention.h"

#include <omp.h>

#include <cmath>

#include "kernels/cpu/softmax_kernels.h"

namespace rerankd::cpu {
namespace {

using dnnl::memory;
using dt = memory::data_type;

// A unit's scores should stay within half a Zen 4 / recent Xeon core's L2, leaving room for its
// Q, K and V slices.
constexpr int64_t kUnitScoresBytes = 512 * 1024;
// Enough units per thread that sequences of different lengths still balance.
constexpr int64_t kUnitsPerThread = 4;

// The most heads per unit (a divisor of num_heads) within the cache budget that still leaves
// every thread several units.
int64_t heads_per_unit(int64_t length, int64_t num_heads, int64_t sequences, int64_t threads) {
  int64_t heads = num_heads;
  auto too_big = [&](int64_t h) {
    return h * length * length * static_cast<int64_t>(sizeof(float)) > kUnitScoresBytes ||
           sequences * (num_heads / h) < kUnitsPerThread * threads;
  };
  while (heads > 1 && too_big(heads)) {
    do --heads;
    while (num_heads % heads != 0);
  }
  return heads;
}

}  // namespace

const DnnlAttention::Primitives& DnnlAttention::primitives(int64_t length, int64_t heads, int64_t hidden,
                                                          int64_t num_heads) {
  auto it = cache_.find({length, heads});
  if (it != cache_.end()) return it->second;

  const int64_t L = length, d = hidden / num_heads, row = 3 * hidden;
  Primitives p;
  p.q_md = memory::desc({heads, L, d}, dt::f32, memory::dims{d, row, 1});
  p.k_md = memory::desc({heads, d, L}, dt::f32, memory::dims{d, 1, row});  // K^T, read in place
  p.scores_md = memory::desc({heads, L, L}, dt::f32, memory::format_tag::abc);
  p.v_md = memory::desc({heads, L, d}, dt::f32, memory::dims{d, row, 1});
  p.ctx_md = memory::desc({heads, L, d}, dt::f32, memory::dims{d, hidden, 1});

  p.scores = dnnl::matmul({dnnl::matmul::desc(p.q_md, p.k_md, p.scores_md), engine_});
  p.context = dnnl::matmul({dnnl::matmul::desc(p.scores_md, p.v_md, p.ctx_md), engine_});
  return cache_.emplace(std::pair{length, heads}, std::move(p)).first->second;
}

void DnnlAttention::run(const float* qkv, const std::vector<int32_t>& seq_starts, int64_t hidden, int64_t num_heads,
                        float* context) {
  const int threads = omp_get_max_threads();
  const auto sequences = static_cast<int64_t>(seq_starts.size()) - 1;
  // Plan the units and make their primitives here, on the calling thread: the cache is not shared.
  units_.clear();
  for (int64_t s = 0; s < sequences; ++s) {
    const int64_t begin = seq_starts[s], length = seq_starts[s + 1] - seq_starts[s];
    if (length == 0) continue;
    const int64_t heads = heads_per_unit(length, num_heads, sequences, threads);
    const Primitives& p = primitives(length, heads, hidden, num_heads);
    for (int64_t h = 0; h < num_heads; h += heads) units_.push_back({begin, length, h, heads, &p});
  }
  while (static_cast<int>(streams_.size()) < threads) streams_.emplace_back(engine_);
  if (static_cast<int>(scores_.size()) < threads) scores_.resize(static_cast<size_t>(threads));

  const int64_t d = hidden / num_heads;
  const float scale = 1.f / std::sqrt(static_cast<float>(d));
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t u = 0; u < units_.size(); ++u) {
    const Unit& unit = units_[u];
    const Primitives& p = *unit.primitives;
    const auto thread = static_cast<size_t>(omp_get_thread_num());
    dnnl::stream& stream = streams_[thread];
    std::vector<float>& scores = scores_[thread];
    const auto scores_size = static_cast<size_t>(unit.heads * unit.length * unit.length);
    if (scores.size() < scores_size) scores.resize(scores_size);

    float* q = const_cast<float*>(qkv) + unit.begin * 3 * hidden + unit.first_head * d;
    memory q_mem(p.q_md, engine_, q);
    memory k_mem(p.k_md, engine_, q + hidden);
    memory v_mem(p.v_md, engine_, q + 2 * hidden);
    memory scores_mem(p.scores_md, engine_, scores.data());
    memory ctx_mem(p.ctx_md, engine_, context + unit.begin * hidden + unit.first_head * d);

    p.scores.execute(stream, {{DNNL_ARG_SRC, q_mem}, {DNNL_ARG_WEIGHTS, k_mem}, {DNNL_ARG_DST, scores_mem}});
    stream.wait();
    for (int64_t r = 0; r < unit.heads * unit.length; ++r) {
      softmax_row(scores.data() + r * unit.length, unit.length, scale);
    }
    p.context.execute(stream, {{DNNL_ARG_SRC, scores_mem}, {DNNL_ARG_WEIGHTS, v_mem}, {DNNL_ARG_DST, ctx_mem}});
    stream.wait();
  }
}

}  // namespace rerankd::cpu
