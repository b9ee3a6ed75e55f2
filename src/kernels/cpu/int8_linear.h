#pragma once
// int8 linear layers (CTranslate2's scheme): weights quantized once per output channel,
// activations quantized per token at run time, u8 x s8 -> s32 on oneDNN, then one fused pass of
// our own that dequantizes, adds the bias and applies the epilogue or the residual add.
//
// Ranges: activations are u8 with zero point 128 (round(x * 127 / max|row|) + 128). Weights use
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
  void forward(const float* src, int64_t rows, Epilogue epilogue, bool accumulate, float* dst) const override;

  Int8LinearRunner* runner = nullptr;
  dnnl::memory::desc packed_desc;
  dnnl::memory weights;               // s8 [in, out] in packed_desc's layout
  std::vector<float> inverse_scale;   // per output channel: 1 / weight scale
  std::vector<int32_t> compensation;  // per output channel: 128 * sum_k Wq[n, k] (the zero point's share)
  std::vector<float> bias;
};

class Int8LinearRunner {
 public:
  // The weight range this CPU multiplies exactly (see above).
  static float weight_range();
  static constexpr float kActivationRange = 127.f;

  Int8LinearRunner(dnnl::engine& engine, dnnl::stream& stream) : engine_(engine), stream_(stream) {}

  std::unique_ptr<Int8Linear> pack(const StackedWeights& stacked);
  void run(const Int8Linear& linear, const float* src, int64_t rows, Epilogue epilogue, bool accumulate, float* dst);

 private:
  dnnl::matmul::primitive_desc make_pd(int64_t rows, int64_t in, int64_t out,
                                       const dnnl::memory::desc& weights_md) const;

  dnnl::engine& engine_;
  dnnl::stream& stream_;
  MatmulCache<std::tuple<int64_t, int64_t, int64_t>> cache_;  // rows, in, out
  // Scratch reused across calls (one compute thread): quantized input, row scales, accumulators.
  std::vector<uint8_t> quantized_;
  std::vector<float> row_inverse_scale_;
  std::vector<int32_t> accumulators_;
};

}  // namespace rerankd::cpu
