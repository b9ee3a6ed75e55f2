#include "kernels/cpu/attention_matmuls.h"

#include <omp.h>

#include <algorithm>
#include <exception>

namespace rerankd::cpu {

AttentionMatmuls::AttentionMatmuls(dnnl::engine& engine, const dnnl::memory::desc& q, const dnnl::memory::desc& k,
                                   const dnnl::memory::desc& v, const dnnl::memory::desc& context)
    : engine_(engine), q_md_(q), k_md_(k), v_md_(v), ctx_md_(context) {
  const dnnl::memory::dims qd = q.dims(), kd = k.dims();
  const dnnl::memory::dim heads = qd[0], queries = qd[1], keys = kd[2];
  scores_md_ = dnnl::memory::desc({heads, queries, keys}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::abc);
  scores_size_ = static_cast<size_t>(heads * queries * keys);
  dnnl::primitive_attr own_scratchpad;
  own_scratchpad.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  const dnnl::matmul::primitive_desc scores_pd(dnnl::matmul::desc(q_md_, k_md_, scores_md_), own_scratchpad, engine_);
  const dnnl::matmul::primitive_desc context_pd(dnnl::matmul::desc(scores_md_, v_md_, ctx_md_), own_scratchpad,
                                                engine_);
  scores_ = dnnl::matmul(scores_pd);
  context_ = dnnl::matmul(context_pd);
  scratchpad_bytes_ = std::max(scores_pd.scratchpad_desc().get_size(), context_pd.scratchpad_desc().get_size());
  scores_scratchpad_md_ = scores_pd.scratchpad_desc();
  context_scratchpad_md_ = context_pd.scratchpad_desc();
}

void AttentionMatmuls::reserve(AttentionScratch& scratch) const {
  if (scratch.scores.size() < scores_size_) scratch.scores.resize(scores_size_);
  if (scratch.dnnl_scratchpad.size() < scratchpad_bytes_) scratch.dnnl_scratchpad.resize(scratchpad_bytes_);
}

void AttentionWorkers::run(dnnl::engine& engine, int threads, size_t count, const RunUnit& run_unit) {
  while (static_cast<int>(streams_.size()) < threads) streams_.emplace_back(engine);
  if (static_cast<int>(scratch_.size()) < threads) scratch_.resize(static_cast<size_t>(threads));
  std::exception_ptr failure;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (size_t u = 0; u < count; ++u) {
    const auto thread = static_cast<size_t>(omp_get_thread_num());
    try {
      run_unit(u, streams_[thread], scratch_[thread]);
    } catch (...) {
#pragma omp critical(rerankd_attention_failure)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace rerankd::cpu
