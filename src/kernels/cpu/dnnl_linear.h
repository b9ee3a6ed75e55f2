#pragma once
// Linear layers on oneDNN's matmul: weights converted and reordered once into the blocked layout
// the primitive prefers, bias and the activation fused as post-ops, the residual add fused as a
// sum post-op. Primitives are cached per (rows, shape, epilogue).
#include <dnnl.hpp>

#include <map>
#include <mutex>
#include <tuple>

#include "kernels/backend.h"

namespace rerankd::cpu {

struct DnnlLinear final : LinearWeights {
  dnnl::memory::desc packed_desc;
  dnnl::memory weights;  // [in, out] in packed_desc's layout
  dnnl::memory bias;     // [1, out] float32
};

class DnnlLinearRunner {
 public:
  DnnlLinearRunner(dnnl::engine& engine, dnnl::stream& stream) : engine_(engine), stream_(stream) {}

  std::unique_ptr<DnnlLinear> pack(std::span<const TensorView* const> weights,
                                   std::span<const TensorView* const> biases);
  // dst[rows, out] (=|+=) epilogue(src[rows, in] W + b); rows must be a multiple of kRowAlignment.
  void run(const DnnlLinear& linear, const float* src, int64_t rows, Epilogue epilogue, bool accumulate,
           float* dst);

 private:
  dnnl::matmul::primitive_desc make_pd(int64_t rows, int64_t in, int64_t out, const dnnl::memory::desc& weights_md,
                                       Epilogue epilogue, bool accumulate) const;

  dnnl::engine& engine_;
  dnnl::stream& stream_;
  using Key = std::tuple<int64_t, int64_t, int64_t, int, bool>;
  std::map<Key, dnnl::matmul> cache_;
};

}  // namespace rerankd::cpu
