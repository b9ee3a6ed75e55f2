#pragma once
// int8 linear layers (CTranslate2's scheme): weights quantized once per output channel,
// activations quantized per token at run time, u8 x s8 -> s32 on oneDNN, then one fused pass of
// our own over each output row while it is in cache: dequantize, add the bias, then the epilogue,
// or the residual add and the LayerNorm; and, for a matrix a linear layer reads next, quantize
// the row for it (the GELU output is kept only quantized).
//
// Ranges: activations are u8 with zero point 128 (narrow_convert.h). Weights use
// the full [-127, 127] where the CPU has VNNI (vpdpbusd accumulates u8 x s8 straight into 32 bits),
// and 7 bits ([-63, 63]) elsewhere: without VNNI u8 x s8 goes through vpmaddubsw, whose 16-bit
// pair sums would saturate with 8-bit weights (2 * 255 * 63 < 32767 stays exact).
#include <dnnl.hpp>

#include <tuple>
#include <vector>

#include "kernels/cpu/cpu_linear.h"
#include "kernels/cpu/matmul_cache.h"

namespace rerankd::cpu {

class Int8LinearRunner;

struct Int8Linear final : CpuLinear {
  void forward(const CpuMatrix& src, int64_t rows, Epilogue epilogue, CpuMatrix& dst) const override;
  void forward_residual_norm(const CpuMatrix& src, int64_t rows, const LayerNormParams& norm,
                             CpuMatrix& dst) const override;

  Int8LinearRunner* runner = nullptr;
  dnnl::memory weights;               // s8 [in, out] in the blocked layout the matmul chose
  std::vector<float> inverse_scale;   // per output channel: 1 / weight scale
  std::vector<int32_t> compensation;  // per output channel: 128 * sum_k Wq[n, k] (the zero point's share)
  std::vector<float> bias;
};

class Int8LinearRunner {
 public:
  // The weight range this CPU multiplies exactly (see above).
  static float weight_range();

  Int8LinearRunner(dnnl::engine& engine, dnnl::stream& stream) : engine_(engine), stream_(stream) {}

  std::unique_ptr<Int8Linear> pack(const StackedWeights& stacked);
  // src [rows, in] u8 times the weights: [rows, out] s32 accumulators, the zero point's share not
  // yet removed, valid until the next call.
  const int32_t* multiply(const Int8Linear& linear, const uint8_t* src, int64_t rows);

 private:
  dnnl::matmul::primitive_desc make_pd(int64_t rows, int64_t in, int64_t out,
                                       const dnnl::memory::desc& weights_md) const;

  dnnl::engine& engine_;
  dnnl::stream& stream_;
  MatmulCache<std::tuple<int64_t, int64_t, int64_t>> cache_;  // rows, in, out
  std::vector<int32_t> accumulators_;  // reused across calls (one compute thread)
};

}  // namespace rerankd::cpu
