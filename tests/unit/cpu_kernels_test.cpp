// The CPU backend's own element-wise kernels against double-precision std:: math: the vectorizable
// exp/erf/GELU, the lane sums, softmax, LayerNorm, and the narrow conversions (bf16 rounding, int8
// quantization). The model-level tests catch their effect on scores; these say which kernel broke.
#include <gtest/gtest.h>

#include <bit>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <cmath>
#include <random>
#include <vector>

#include "common/error.h"
#include "kernels/cpu/cpu_isa.h"
#include "kernels/cpu/cpu_matrix.h"
#include "kernels/cpu/int8_gemm.h"
#include "kernels/cpu/narrow_convert.h"
#include "kernels/cpu/norm_kernels.h"
#include "kernels/cpu/softmax_kernels.h"
#include "kernels/cpu/vector_math.h"

namespace rerankd::cpu {
namespace {

std::vector<float> random_row(int64_t n, float scale, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, scale);
  std::vector<float> x(static_cast<size_t>(n));
  for (float& v : x) v = normal(rng);
  return x;
}

TEST(CpuKernels, FastExpIsWithinAFewUlpsOverItsRange) {
  double worst = 0;
  for (float x = -87.f; x <= 88.f; x += 0.001f) {
    const double exact = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::abs(fast_exp(x) - exact) / exact);
  }
  EXPECT_LT(worst, 4e-7);  // ~3 float ulps
  EXPECT_EQ(fast_exp(-1000.f), fast_exp(-87.f));  // clamped, never a wrapped exponent
}

TEST(CpuKernels, FastErfAndGeluMatchTheExactFunctions) {
  double worst_erf = 0, worst_gelu = 0;
  for (float x = -12.f; x <= 12.f; x += 0.0005f) {
    const double exact_erf = std::erf(static_cast<double>(x));
    worst_erf = std::max(worst_erf, std::abs(fast_erf(x) - exact_erf));
    const double exact_gelu = 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    worst_gelu = std::max(worst_gelu, std::abs(gelu(x) - exact_gelu) / std::max(1.0, std::abs(static_cast<double>(x))));
  }
  EXPECT_LT(worst_erf, 2e-6);   // A&S 7.1.28 evaluated in float
  EXPECT_LT(worst_gelu, 1e-6);
  EXPECT_EQ(fast_erf(1e30f), 1.f);
  EXPECT_EQ(fast_erf(-1e30f), -1.f);
}

TEST(CpuKernels, LaneSumMatchesADoubleSum) {
  for (const int64_t n : {0, 1, 15, 16, 17, 1000, 4096}) {
    const auto x = random_row(n, 3.f, static_cast<unsigned>(n));
    double exact = 0;
    for (const float v : x) exact += v;
    EXPECT_NEAR(lane_sum(n, [&](int64_t i) { return x[static_cast<size_t>(i)]; }), exact, 1e-5 * (1 + n)) << n;
  }
}

TEST(CpuKernels, SoftmaxWithScaleMatchesDoubles) {
  for (const int64_t n : {1, 7, 16, 33, 256, 512}) {
    auto x = random_row(n, 4.f, static_cast<unsigned>(n) + 7);
    const float scale = 0.125f;
    double max = -1e300, sum = 0;
    for (const float v : x) max = std::max(max, static_cast<double>(v));
    std::vector<double> exact;
    for (const float v : x) exact.push_back(std::exp(scale * (v - max)));
    for (const double e : exact) sum += e;
    softmax_row(x.data(), n, scale);
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(x[static_cast<size_t>(i)], exact[static_cast<size_t>(i)] / sum, 1e-6);
  }
}

TEST(CpuKernels, LayerNormWritesItsNarrowFormsAsTheStandaloneConversionsWould) {
  const int64_t rows = 3, width = 1000;
  const auto input = random_row(rows * width, 2.f, 11);
  std::vector<float> gamma(width), beta(width);
  for (int64_t i = 0; i < width; ++i) {
    gamma[static_cast<size_t>(i)] = 1.f + 0.001f * static_cast<float>(i);
    beta[static_cast<size_t>(i)] = 0.01f * static_cast<float>(i % 7);
  }
  const LayerNormParams norm{gamma.data(), beta.data(), 1e-5f};

  auto normalized = input;
  std::vector<uint16_t> bf16(input.size());
  layer_norm_rows(normalized.data(), rows, width, norm, NarrowRowsOut{.bf16 = bf16.data()});
  auto quantized_input = input;
  std::vector<uint8_t> u8(input.size());
  std::vector<float> row_inverse_scale(rows);
  layer_norm_rows(quantized_input.data(), rows, width, norm,
                  NarrowRowsOut{.u8 = u8.data(), .row_inverse_scale = row_inverse_scale.data()});

  // Byte for byte what the standalone conversions make of the normalised rows.
  std::vector<uint16_t> bf16_alone(input.size());
  round_rows_to_bf16(normalized.data(), rows, width, bf16_alone.data());
  EXPECT_EQ(bf16, bf16_alone);
  std::vector<uint8_t> u8_alone(input.size());
  std::vector<float> scale_alone(rows);
  quantize_rows(normalized.data(), rows, width, u8_alone.data(), scale_alone.data());
  EXPECT_EQ(u8, u8_alone);
  EXPECT_EQ(row_inverse_scale, scale_alone);

  for (int64_t r = 0; r < rows; ++r) {
    const float* y = normalized.data() + r * width;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < width; ++i) mean += input[static_cast<size_t>(r * width + i)];
    mean /= width;
    for (int64_t i = 0; i < width; ++i) var += std::pow(input[static_cast<size_t>(r * width + i)] - mean, 2);
    var /= width;
    for (int64_t i = 0; i < width; ++i) {
      const double exact = (input[static_cast<size_t>(r * width + i)] - mean) / std::sqrt(var + 1e-5) *
                               gamma[static_cast<size_t>(i)] + beta[static_cast<size_t>(i)];
      ASSERT_NEAR(y[i], exact, 2e-5) << r << "," << i;
      // bf16: the float32 value rounded to nearest, so within half a bf16 ulp (8 significant bits).
      const float widened = std::bit_cast<float>(static_cast<uint32_t>(bf16[static_cast<size_t>(r * width + i)]) << 16);
      ASSERT_LE(std::abs(widened - y[i]), std::abs(y[i]) * 0x1p-8f) << r << "," << i;
      // int8: zero point 128, scale max|row| / 127, so each value within half a step.
      const float step = row_inverse_scale[static_cast<size_t>(r)];
      const float dequantized = (static_cast<int>(u8[static_cast<size_t>(r * width + i)]) - 128) * step;
      ASSERT_LE(std::abs(dequantized - y[i]), 0.5f * step * 1.0001f) << r << "," << i;
    }
    float largest = 0;
    for (int64_t i = 0; i < width; ++i) largest = std::max(largest, std::abs(y[i]));
    EXPECT_FLOAT_EQ(row_inverse_scale[static_cast<size_t>(r)], largest / 127.f);
  }
}

// CpuMatrix's bookkeeping of which forms are current.
TEST(CpuKernels, MatrixConvertsAStaleNarrowFormAndRefusesAMissingFloatOne) {
  CpuMatrix general(8, 16, NarrowForm::kBFloat16, /*keep_floats=*/true);
  float* x = general.write_floats();
  for (int i = 0; i < 8 * 16; ++i) x[i] = 1.5f + static_cast<float>(i);
  const uint16_t* converted = general.bf16(8);  // stale after the float write: converted now
  EXPECT_EQ(std::bit_cast<float>(static_cast<uint32_t>(converted[3]) << 16), 4.5f);
  const CpuMatrix::Both both = general.write_both(8);  // the writer fills both; no conversion
  both.floats[0] = 2.f;
  both.narrow.bf16[0] = 0x3f80;  // 1.0: differs from the float on purpose
  EXPECT_EQ(general.bf16(8)[0], 0x3f80);
  general.write_floats()[0] = 3.f;  // a float write makes the narrow form stale again
  EXPECT_EQ(general.bf16(8)[0], 0x4040);  // 3.0, reconverted

  CpuMatrix narrow_only(8, 16, NarrowForm::kInt8, /*keep_floats=*/false);
  EXPECT_FALSE(narrow_only.keeps_floats());
  EXPECT_THROW(narrow_only.floats(), Error);
  EXPECT_THROW(narrow_only.write_floats(), Error);
  const NarrowRowsOut out = narrow_only.write_narrow(8);
  out.u8[0] = 200;
  EXPECT_EQ(narrow_only.quantized(8).values[0], 200);
  EXPECT_THROW(CpuMatrix(8, 16, NarrowForm::kNone, /*keep_floats=*/false), Error);
}

// int8_gemm against plain 64-bit dot products: equal, not close, since the integers are exact.
// The extreme case (every activation 255 or 1, every weight +-127, signs aligned) is where a
// vpmaddubsw pair sum of u8 x s8 would pass 32767 and saturate; u8 0 (-128 after the zero point)
// is what the rows past a batch's end hold. Shapes cover the tails of the 2 x 4 tile and of the
// 32-byte depth step, and more rows and columns than one block.
void expect_gemm_exact(int64_t rows, int64_t cols, int64_t depth, unsigned seed, bool extreme) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> activation(0, 255), weight(-127, 127), coin(0, 1);
  std::vector<uint8_t> a(static_cast<size_t>(rows * depth));
  std::vector<int8_t> b(static_cast<size_t>(cols * depth));
  for (auto& v : a) v = static_cast<uint8_t>(extreme ? (coin(rng) ? 255 : 1) : activation(rng));
  for (int64_t j = 0; j < cols; ++j) {
    for (int64_t k = 0; k < depth; ++k) {
      const uint8_t x = a[static_cast<size_t>(k)];  // row 0's signs, so its products all add up
      b[static_cast<size_t>(j * depth + k)] =
          static_cast<int8_t>(extreme ? (x >= 128 ? 127 : -127) * (j % 2 ? -1 : 1) : weight(rng));
    }
  }
  std::vector<int32_t> c(static_cast<size_t>(rows * cols), -1);
  int8_gemm(a.data(), b.data(), rows, cols, depth, c.data());
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      int64_t want = 0;
      for (int64_t k = 0; k < depth; ++k) {
        want += (static_cast<int64_t>(a[static_cast<size_t>(i * depth + k)]) - 128) * b[static_cast<size_t>(j * depth + k)];
      }
      ASSERT_EQ(c[static_cast<size_t>(i * cols + j)], want)
          << rows << "x" << cols << "x" << depth << " at " << i << "," << j << " (" << kernel_isa_name(kernel_isa()) << ")";
    }
  }
}

TEST(CpuKernels, Int8GemmIsExactForEightBitWeights) {
  std::printf("[ kernels  ] int8_gemm: %s\n", int8_gemm_kernel_name());
  expect_gemm_exact(8, 16, 64, 1, /*extreme=*/true);
  expect_gemm_exact(2, 4, 1024, 2, /*extreme=*/true);
  expect_gemm_exact(8, 12, 32, 3, false);
  expect_gemm_exact(7, 5, 45, 4, false);  // every tail at once
  expect_gemm_exact(1, 1, 1, 5, false);
  expect_gemm_exact(130, 70, 4096, 6, false);  // several blocks of rows and column panels
}

// The suite runs this file at every level the machine can be forced down to (tests/CMakeLists.txt):
// the cap must reach our own kernels, not only oneDNN.
TEST(CpuKernels, KernelLevelFollowsTheOneDnnCap) {
  const char* cap = std::getenv("ONEDNN_MAX_CPU_ISA");
  std::printf("[ kernels  ] ONEDNN_MAX_CPU_ISA=%s: oneDNN %s, own kernels %s\n", cap ? cap : "(unset)",
              cpu_isa_name().c_str(), kernel_isa_name(kernel_isa()));
  if (cap == nullptr) GTEST_SKIP() << "ONEDNN_MAX_CPU_ISA is not set: nothing caps the level";
  const std::string level(cap);
  if (level == "SSE41") {
    EXPECT_EQ(kernel_isa(), KernelIsa::kBaseline);
  }
  if (level == "AVX2") {
    EXPECT_NE(kernel_isa(), KernelIsa::kAvx512);
  }
  if (level == "AVX2" || level == "AVX512_CORE") {
    EXPECT_FALSE(cpu_has_vnni()) << "the " << level << " cap takes VNNI away";
  }
}

}  // namespace
}  // namespace rerankd::cpu
