#pragma once
// float32 and bfloat16 linear layers on oneDNN's matmul: weights converted and reordered once into
// the blocked layout the primitive prefers, bias and the activation fused as post-ops, the residual
// add fused as a sum post-op. Primitives are cached per (rows, shape, epilogue).
//
// bfloat16 (AVX512-BF16/AMX): weights stored bf16, the input read in its bf16 form (CpuMatrix
// rounds it unless the producer wrote it), float32 accumulation and float32 output, so everything
// around the matmuls (LayerNorm, residuals, attention) keeps float32 activations; except into a
// matrix kept only as bf16 (the GELU output, read only by the next matmul), written as bf16.
#include <dnnl.hpp>

#include <tuple>
#include <vector>

#include "kernels/cpu/cpu_linear.h"
#include "kernels/cpu/matmul_cache.h"

namespace rerankd::cpu {

class DnnlLinearRunner;

struct DnnlLinear final : CpuLinear {
  void forward(const CpuMatrix& src, int64_t rows, Epilogue epilogue, CpuMatrix& dst) const override;
  void forward_residual_norm(const CpuMatrix& src, int64_t rows, const LayerNormParams& norm,
                             CpuMatrix& dst) const override;
  void forward_residual(const CpuMatrix& src, int64_t rows, CpuMatrix& dst) const override;

  DnnlLinearRunner* runner = nullptr;
  dnnl::memory weights;  // [in, out] in the blocked layout the matmul chose
  dnnl::memory bias;     // [1, out] float32; none (an empty memory) for a Linear without bias
};

class DnnlLinearRunner {
 public:
  // compute_type: f32 or bf16, the type of the weights and of the matmul's input.
  DnnlLinearRunner(dnnl::engine& engine, dnnl::stream& stream,
                   dnnl::memory::data_type compute_type = dnnl::memory::data_type::f32)
      : engine_(engine), stream_(stream), compute_type_(compute_type) {}

  std::unique_ptr<DnnlLinear> pack(const StackedWeights& stacked);
  dnnl::memory::data_type compute_type() const { return compute_type_; }
  // dst (=|+=) epilogue(src W^T + b); src in compute_type(), dst float32 or bf16.
  void run(const DnnlLinear& linear, const void* src, int64_t rows, Epilogue epilogue, bool accumulate, void* dst,
           dnnl::memory::data_type dst_type);

 private:
  dnnl::matmul::primitive_desc make_pd(int64_t rows, int64_t in, int64_t out, const dnnl::memory::desc& weights_md,
                                       bool has_bias, Epilogue epilogue, bool accumulate,
                                       dnnl::memory::data_type dst_type) const;

  dnnl::engine& engine_;
  dnnl::stream& stream_;
  dnnl::memory::data_type compute_type_;
  // rows, in, out, has bias, epilogue, accumulate, dst type
  MatmulCache<std::tuple<int64_t, int64_t, int64_t, bool, int, bool, int>> cache_;
};

}  // namespace rerankd::cpu
