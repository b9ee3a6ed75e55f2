#pragma once
// The two batched matmuls of one attention unit, scores = Q K^T and context = P V, which the
// encoder's attention (dnnl_attention.h) and the decoder's causal one (causal_attention.h) both
// run: Q, K and V read in place through strided descriptors, the context written in place, and the
// softmax between the two left to the caller (one masks, the other does not).
//
// Threads run these primitives at once, so each passes its own scratchpad: with the library's
// default, primitives that need one share it (oneDNN 2.6's brgemm matmuls, for one, corrupt each
// other's results that way; the gemm these shapes get here needs none, but other CPUs differ).
#include <dnnl.hpp>

#include <cstddef>
#include <functional>
#include <vector>

namespace rerankd::cpu {

// One compute thread's buffers, grown as needed.
struct AttentionScratch {
  std::vector<float> scores;  // [heads, queries, keys]
  std::vector<std::byte> dnnl_scratchpad;
};

class AttentionMatmuls {
 public:
  // q [heads, queries, d], k [heads or 1, d, keys] (K^T; 1 broadcasts it over the heads),
  // v [heads or 1, keys, d], context [heads, queries, d]; scores are [heads, queries, keys], dense.
  AttentionMatmuls(dnnl::engine& engine, const dnnl::memory::desc& q, const dnnl::memory::desc& k,
                   const dnnl::memory::desc& v, const dnnl::memory::desc& context);

  // Q K^T into scratch.scores, then `softmax(scores)` (the caller's, on the dense rows), then P V
  // into `context`. Pointers are to the first element each descriptor reads or writes.
  template <typename Softmax>
  void run(dnnl::stream& stream, AttentionScratch& scratch, float* q, float* k, float* v, float* context,
           Softmax&& softmax) const {
    reserve(scratch);
    dnnl::memory scores_mem(scores_md_, engine_, scratch.scores.data());
    dnnl::memory scores_pad(scores_scratchpad_md_, engine_, scratch.dnnl_scratchpad.data());
    dnnl::memory context_pad(context_scratchpad_md_, engine_, scratch.dnnl_scratchpad.data());
    scores_.execute(stream, {{DNNL_ARG_SRC, dnnl::memory(q_md_, engine_, q)},
                             {DNNL_ARG_WEIGHTS, dnnl::memory(k_md_, engine_, k)},
                             {DNNL_ARG_DST, scores_mem},
                             {DNNL_ARG_SCRATCHPAD, scores_pad}});
    stream.wait();
    softmax(scratch.scores.data());
    context_.execute(stream, {{DNNL_ARG_SRC, scores_mem},
                              {DNNL_ARG_WEIGHTS, dnnl::memory(v_md_, engine_, v)},
                              {DNNL_ARG_DST, dnnl::memory(ctx_md_, engine_, context)},
                              {DNNL_ARG_SCRATCHPAD, context_pad}});
    stream.wait();
  }

 private:
  void reserve(AttentionScratch& scratch) const;

  dnnl::engine& engine_;
  dnnl::memory::desc q_md_, k_md_, scores_md_, v_md_, ctx_md_, scores_scratchpad_md_, context_scratchpad_md_;
  size_t scores_size_ = 0, scratchpad_bytes_ = 0;
  dnnl::matmul scores_, context_;
};

// The compute threads' streams and scratch, and the loop that spreads an attention's units over
// them: each thread runs a unit start to finish on its own core (oneDNN single-threaded inside).
class AttentionWorkers {
 public:
  // Calls run_unit(u, stream, scratch) for each u < count, on `threads` OpenMP threads, the units
  // taken in order as threads come free. An exception must not leave an OpenMP region (it would
  // terminate the process): the first is rethrown on the calling thread once the region has ended.
  using RunUnit = std::function<void(size_t unit, dnnl::stream& stream, AttentionScratch& scratch)>;
  void run(dnnl::engine& engine, int threads, size_t count, const RunUnit& run_unit);

 private:
  std::vector<dnnl::stream> streams_;
  std::vector<AttentionScratch> scratch_;
};

}  // namespace rerankd::cpu
