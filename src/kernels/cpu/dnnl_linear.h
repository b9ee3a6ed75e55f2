#pragma once
// float32 linear layers on oneDNN's matmul: weights reordered once into the blocked layout the
// primitive prefers, bias and the activation fused as post-ops, the residual add fused as a sum
// post-op. Primitives are cached per (rows, shape, epilogue).
#include <dnnl.hpp>

#include <map>
#include <tuple>

#include "kernels/cpu/cpu_linear.h"

namespace rerankd::cpu {

class DnnlLinearRunner;

struct DnnlLinear final : CpuLinear {
  void forward(const float* src, int64_t rows, Epilogue epilogue, bool accumulate, float* dst) const override;

  DnnlLinearRunner* runner = nullptr;
  dnnl::memory::desc packed_desc;
  dnnl::memory weights;  // [in, out] in packed_desc's layout
  dnnl::memory bias;     // [1, out] float32
};

class DnnlLinearRunner {
 public:
  DnnlLinearRunner(dnnl::engine& engine, dnnl::stream& stream) : engine_(engine), stream_(stream) {}

  std::unique_ptr<DnnlLinear> pack(const StackedWeights& stacked);
  void run(const DnnlLinear& linear, const float* src, int64_t rows, Epilogue epilogue, bool accumulate, float* dst);

 private:
  dnnl::matmul::primitive_desc make_pd(int64_t rows, int64_t in, int64_t out, const dnnl::memory::desc& weights_md,
                                       Epilogue epilogue, bool accumulate) const;

  dnnl::engine& engine_;
  dnnl::stream& stream_;
  using Key = std::tuple<int64_t, int64_t, int64_t, int, bool>;
  std::map<Key, dnnl::matmul> cache_;
};

}  // namespace rerankd::cpu
