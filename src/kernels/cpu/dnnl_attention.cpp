#include "kernels/cpu/dnnl_attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <exception>

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

  // Threads run these primitives at once, so each passes its own scratchpad: with the library's
  // default, primitives that need one share it (oneDNN 2.6's brgemm matmuls, for one, corrupt each
  // other's results that way; the gemm these shapes get here needs none, but other CPUs differ).
  dnnl::primitive_attr own_scratchpad;
  own_scratchpad.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const dnnl::matmul::primitive_desc scores_pd(dnnl::matmul::desc(p.q_md, p.k_md, p.scores_md), own_scratchpad,
                                               engine_);
  const dnnl::matmul::primitive_desc context_pd(dnnl::matmul::desc(p.scores_md, p.v_md, p.ctx_md), own_scratchpad,
                                                engine_);
  p.scores = dnnl::matmul(scores_pd);
  p.context = dnnl::matmul(context_pd);
  p.scratchpad_bytes = std::max(scores_pd.scratchpad_desc().get_size(), context_pd.scratchpad_desc().get_size());
  p.scores_scratchpad_md = scores_pd.scratchpad_desc();
  p.context_scratchpad_md = context_pd.scratchpad_desc();
  return cache_.emplace(std::pair{length, heads}, std::move(p)).first->second;
}

void DnnlAttention::run(const float* qkv, const std::vector<int32_t>& seq_starts, int64_t hidden, int64_t num_heads,
                        int threads, float* context) {
  const auto sequences = static_cast<int64_t>(seq_starts.size()) - 1;
  // Plan the units and make their primitives here, on the calling thread: the cache is not shared.
  // Bounded like MatmulCache (a server sees every length); cleared before planning, since the
  // units point into it.
  if (cache_.size() >= kMaxCachedShapes) cache_.clear();
  units_.clear();
  for (int64_t s = 0; s < sequences; ++s) {
    const int64_t begin = seq_starts[s], length = seq_starts[s + 1] - seq_starts[s];
    if (length == 0) continue;
    const int64_t heads = heads_per_unit(length, num_heads, sequences, threads);
    const Primitives& p = primitives(length, heads, hidden, num_heads);
    for (int64_t h = 0; h < num_heads; h += heads) units_.push_back({begin, length, h, heads, &p});
  }
  while (static_cast<int>(streams_.size()) < threads) streams_.emplace_back(engine_);
  if (static_cast<int>(scratch_.size()) < threads) scratch_.resize(static_cast<size_t>(threads));

  // An exception must not leave an OpenMP region (it would terminate the process): the first one
  // is kept and rethrown on the calling thread once the region has ended.
  std::exception_ptr failure;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (size_t u = 0; u < units_.size(); ++u) {
    const auto thread = static_cast<size_t>(omp_get_thread_num());
    try {
      run_unit(units_[u], qkv, hidden, num_heads, context, streams_[thread], scratch_[thread]);
    } catch (...) {
#pragma omp critical(rerankd_attention_failure)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

void DnnlAttention::run_unit(const Unit& unit, const float* qkv, int64_t hidden, int64_t num_heads, float* context,
                             dnnl::stream& stream, ThreadScratch& scratch) const {
  const Primitives& p = *unit.primitives;
  const int64_t L = unit.length, d = hidden / num_heads;
  void* scratchpad = scratch.reserve(unit.heads * L * L, p.scratchpad_bytes);

  float* q = const_cast<float*>(qkv) + unit.begin * 3 * hidden + unit.first_head * d;
  memory q_mem(p.q_md, engine_, q);
  memory k_mem(p.k_md, engine_, q + hidden);
  memory v_mem(p.v_md, engine_, q + 2 * hidden);
  memory scores_mem(p.scores_md, engine_, scratch.scores.data());
  memory ctx_mem(p.ctx_md, engine_, context + unit.begin * hidden + unit.first_head * d);
  memory scores_scratchpad(p.scores_scratchpad_md, engine_, scratchpad);
  memory context_scratchpad(p.context_scratchpad_md, engine_, scratchpad);

  p.scores.execute(stream, {{DNNL_ARG_SRC, q_mem},
                            {DNNL_ARG_WEIGHTS, k_mem},
                            {DNNL_ARG_DST, scores_mem},
                            {DNNL_ARG_SCRATCHPAD, scores_scratchpad}});
  stream.wait();
  const float scale = 1.f / std::sqrt(static_cast<float>(d));
  for (int64_t r = 0; r < unit.heads * L; ++r) softmax_row(scratch.scores.data() + r * L, L, scale);
  p.context.execute(stream, {{DNNL_ARG_SRC, scores_mem},
                             {DNNL_ARG_WEIGHTS, v_mem},
                             {DNNL_ARG_DST, ctx_mem},
                             {DNNL_ARG_SCRATCHPAD, context_scratchpad}});
  stream.wait();
}

}  // namespace rerankd::cpu
