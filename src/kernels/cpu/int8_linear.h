#pragma once
// int8 linear layers (CTranslate2's scheme): weights quantized once per output channel,
// activations quantized per token at run time, u8 x s8 -> s32 on oneDNN, then one fused pass of
// our own over each output row while it is in cache: dequantize, add the bias, then the epilogue,
// or the residual add and the LayerNorm; and, for a matrix a linear layer reads next, quantize
// the row for it (the GELU output is kept only quantized).
//
// Ranges: activations are u8 with zero point 128 (narrow_convert.h), weights s8 in [-127, 127]
// per output channel, on every CPU, so every ISA computes the same integers. Where the CPU has
// VNNI (vpdpbusd accumulates u8 x s8 straight into 32 bits) oneDNN multiplies; elsewhere our own
// kernel does (int8_gemm.h), since oneDNN's vpmaddubsw path would saturate with 8-bit weights.
#include <dnnl.hpp>

#include <string>
#include <tuple>
#include <vector>

#include "kernels/cpu/cpu_linear.h"
#include "kernels/cpu/matmul_cache.h"
#include "kernels/cpu/page_allocator.h"

namespace rerankd::cpu {

class Int8LinearRunner;

struct Int8Linear final : CpuLinear {
  void forward(const CpuMatrix& src, int64_t rows, Epilogue epilogue, CpuMatrix& dst) const override;
  void forward_residual_norm(const CpuMatrix& src, int64_t rows, const LayerNormParams& norm,
                             CpuMatrix& dst) const override;
  void forward_residual(const CpuMatrix& src, int64_t rows, CpuMatrix& dst) const override;

  Int8LinearRunner* runner = nullptr;
  // One of the two, by the runner's kernel: oneDNN's blocked s8 [in, out] layout, or [out, in] rows.
  dnnl::memory packed_weights;
  PageVector<int8_t> weight_rows;  // the quantized rows themselves, taken from pack's buffer
  std::vector<float> inverse_scale;   // per output channel: 1 / weight scale
  // Per output channel, what the multiply leaves of the zero point's share: 128 * sum_k Wq[n, k]
  // after oneDNN's u8 matmul, 0 after our kernel (which subtracts the zero point itself).
  std::vector<int32_t> compensation;
  std::vector<float> bias;  // zeros for a Linear without bias: the fused pass adds it anyway
};

class Int8LinearRunner {
 public:
  static constexpr float kWeightRange = 127.f;

  Int8LinearRunner(dnnl::engine& engine, dnnl::stream& stream);

  // The matmul this runner uses, and why (for /info and the start-up log).
  std::string kernel_name() const;

  std::unique_ptr<Int8Linear> pack(const StackedWeights& stacked);
  // src [rows, in] u8 times the weights: [rows, out] s32 accumulators, less `compensation` still
  // to subtract, valid until the next call.
  const int32_t* multiply(const Int8Linear& linear, const uint8_t* src, int64_t rows);

 private:
  dnnl::matmul::primitive_desc make_pd(int64_t rows, int64_t in, int64_t out,
                                       const dnnl::memory::desc& weights_md) const;

  dnnl::engine& engine_;
  dnnl::stream& stream_;
  bool use_dnnl_;  // VNNI: oneDNN's matmul is exact and faster than ours
  MatmulCache<std::tuple<int64_t, int64_t, int64_t>> cache_;  // rows, in, out
  std::vector<int32_t> accumulators_;  // reused across calls (one compute thread)
};

}  // namespace rerankd::cpu
