// Each CUDA kernel (kernels/cuda/cuda_kernels.h) and the cuBLASLt matmul against a float64 host
// reference, on random data.
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "cuda_test_util.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/cuda_matmul.h"
#include "kernels/cuda/cuda_plan.h"

namespace rerankd::cuda {
namespace {

using testing::CudaTest;
using testing::to_device;
using testing::to_host;

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

std::vector<double> layernorm_ref(const std::vector<double>& x, const std::vector<float>& g, const std::vector<float>& b,
                                  double eps) {
  double mean = 0, var = 0;
  for (double v : x) mean += v;
  mean /= static_cast<double>(x.size());
  for (double v : x) var += (v - mean) * (v - mean);
  var /= static_cast<double>(x.size());
  std::vector<double> y(x.size());
  for (size_t c = 0; c < x.size(); ++c) y[c] = (x[c] - mean) / std::sqrt(var + eps) * g[c] + b[c];
  return y;
}

using CudaKernels = CudaTest;

TEST_F(CudaKernels, ConvertRoundsAndCountsNonFinite) {
  std::vector<float> src = random_floats(10000, 1);
  src[7] = 1e6f;  // past float16's range
  const DeviceBuffer s = to_device(src), counter = to_device(std::vector<int>{0});
  DeviceBuffer half(static_cast<int64_t>(src.size() * 2)), back(static_cast<int64_t>(src.size() * 4));
  launch_convert(s.get(), ElementType::kFloat32, half.get(), ElementType::kFloat16, 10000,
                 static_cast<int*>(counter.get()), nullptr);
  launch_convert(half.get(), ElementType::kFloat16, back.get(), ElementType::kFloat32, 10000,
                 static_cast<int*>(counter.get()), nullptr);
  const auto got = to_host<float>(back, src.size());
  EXPECT_EQ(to_host<int>(counter, 1)[0], 2);  // the infinity, counted by each conversion
  for (size_t i = 0; i < src.size(); ++i) {
    if (i == 7) continue;
    EXPECT_NEAR(got[i], src[i], std::abs(src[i]) * 0x1p-11 + 1e-7) << i;
    EXPECT_EQ(got[i], __half2float(__float2half_rn(src[i]))) << i;  // round to nearest even, as the host does
  }
}

TEST_F(CudaKernels, EmbeddingAndLayerNormMatchTheReference) {
  const int64_t vocab = 50, positions = 40, type_rows = 2, width = 96, tokens = 7;
  const auto word = random_floats(vocab * width, 2), pos = random_floats(positions * width, 3),
             type = random_floats(type_rows * width, 4), gamma = random_floats(width, 5),
             beta = random_floats(width, 6);
  // Token types 0 and 1 as BERT's pairs have them: each row must add its own type's row.
  const std::vector<int32_t> ids{0, 5, 49, 3, 3, 17, 2}, position_ids{2, 3, 4, 2, 3, 39, 5},
      type_ids{0, 0, 1, 1, 0, 1, 1};
  const DeviceBuffer w = to_device(word), p = to_device(pos), t = to_device(type), g = to_device(gamma),
                     b = to_device(beta), i = to_device(ids), pi = to_device(position_ids), ti = to_device(type_ids);
  DeviceBuffer out(tokens * width * 4), narrow(tokens * width * 2);
  launch_embed_layernorm(static_cast<const int32_t*>(i.get()), static_cast<const int32_t*>(pi.get()),
                         static_cast<const int32_t*>(ti.get()), tokens, width,
                         w.get(), ElementType::kFloat32, static_cast<const float*>(p.get()),
                         static_cast<const float*>(t.get()),
                         {static_cast<const float*>(g.get()), static_cast<const float*>(b.get()), 1e-5f},
                         static_cast<float*>(out.get()), narrow.get(), ElementType::kFloat16, nullptr);
  const auto got = to_host<float>(out, static_cast<size_t>(tokens * width));
  const auto got_half = to_host<__half>(narrow, static_cast<size_t>(tokens * width));
  double worst = 0;
  for (int64_t r = 0; r < tokens; ++r) {
    std::vector<double> x(static_cast<size_t>(width));
    for (int64_t c = 0; c < width; ++c) {
      x[static_cast<size_t>(c)] = double{word[static_cast<size_t>(ids[static_cast<size_t>(r)] * width + c)]} +
                                  pos[static_cast<size_t>(position_ids[static_cast<size_t>(r)] * width + c)] +
                                  type[static_cast<size_t>(type_ids[static_cast<size_t>(r)] * width + c)];
    }
    const auto y = layernorm_ref(x, gamma, beta, 1e-5);
    for (int64_t c = 0; c < width; ++c) {
      const size_t k = static_cast<size_t>(r * width + c);
      worst = std::max(worst, std::abs(got[k] - y[static_cast<size_t>(c)]));
      EXPECT_EQ(__half2float(got_half[k]), __half2float(__float2half_rn(got[k])));
    }
  }
  EXPECT_LT(worst, 1e-5);
}

TEST_F(CudaKernels, LayerNormInPlaceMatchesTheReference) {
  const int64_t rows = 5, width = 1024;
  auto x = random_floats(rows * width, 7, 3.f);
  for (float& v : x) v += 10.f;  // an offset the two-pass variance must not lose
  const auto gamma = random_floats(width, 8), beta = random_floats(width, 9);
  DeviceBuffer d = to_device(x);
  const DeviceBuffer g = to_device(gamma), b = to_device(beta);
  launch_layernorm(static_cast<float*>(d.get()), rows, width,
                   {static_cast<const float*>(g.get()), static_cast<const float*>(b.get()), 1e-5f}, nullptr,
                   ElementType::kFloat16, nullptr);
  const auto got = to_host<float>(d, x.size());
  for (int64_t r = 0; r < rows; ++r) {
    const std::vector<double> row(x.begin() + r * width, x.begin() + (r + 1) * width);
    const auto y = layernorm_ref(row, gamma, beta, 1e-5);
    for (int64_t c = 0; c < width; ++c) EXPECT_NEAR(got[static_cast<size_t>(r * width + c)], y[static_cast<size_t>(c)], 2e-5);
  }
}

TEST_F(CudaKernels, MaskedSoftmaxAndScatterMatchTheReference) {
  const int32_t keys = 64, queries = 64;
  const int64_t head_dim = 8, hidden = 16;
  const std::vector<AttentionItem> items{{0, 5, 0, 0}, {5, 64, 1, 0}, {69, 1, 0, 0}};
  const ItemScratch layout = item_scratch(keys, queries, head_dim, 4);
  std::vector<char> scratch(static_cast<size_t>(layout.bytes * 3), 0);
  const auto scores = random_floats(static_cast<size_t>(keys * queries * 3), 10, 2.f);
  for (size_t i = 0; i < 3; ++i) {
    std::memcpy(scratch.data() + i * layout.bytes + layout.scores, scores.data() + i * keys * queries,
                static_cast<size_t>(keys * queries) * 4);
    auto* ctx = reinterpret_cast<float*>(scratch.data() + i * layout.bytes + layout.context);
    for (int64_t k = 0; k < queries * head_dim; ++k) ctx[k] = static_cast<float>(i * 1000 + k);
  }
  DeviceBuffer s = to_device(scratch);
  const DeviceBuffer it = to_device(items);
  launch_masked_softmax(static_cast<const AttentionItem*>(it.get()), 3, keys, queries, s.get(), layout,
                        ElementType::kFloat32, nullptr);
  DeviceBuffer out = to_device(std::vector<float>(70 * hidden, -1.f));
  launch_scatter_context(static_cast<const AttentionItem*>(it.get()), 3, queries, head_dim, s.get(), layout, out.get(),
                         hidden, ElementType::kFloat32, nullptr);
  const auto got = to_host<char>(s, scratch.size());
  for (size_t i = 0; i < 3; ++i) {
    const auto* p = reinterpret_cast<const float*>(got.data() + i * layout.bytes + layout.probabilities);
    const int32_t length = items[i].length;
    for (int32_t q = 0; q < queries; ++q) {
      const float* row = scores.data() + i * keys * queries + q * keys;
      double m = -1e30, sum = 0;
      for (int32_t j = 0; j < length; ++j) m = std::max<double>(m, row[j]);
      for (int32_t j = 0; j < length; ++j) sum += std::exp(row[j] - m);
      for (int32_t j = 0; j < keys; ++j) {
        const double want = q < length && j < length ? std::exp(row[j] - m) / sum : 0.0;
        ASSERT_NEAR(p[q * keys + j], want, 1e-6) << i << " " << q << " " << j;
      }
    }
  }
  // Context rows land at their tokens, heads side by side; rows past a sequence stay untouched.
  const auto ctx = to_host<float>(out, 70 * hidden);
  for (size_t i = 0; i < 3; ++i) {
    for (int32_t q = 0; q < items[i].length; ++q) {
      for (int64_t d = 0; d < head_dim; ++d) {
        EXPECT_EQ(ctx[static_cast<size_t>((items[i].seq_start + q) * hidden + items[i].head * head_dim + d)],
                  static_cast<float>(i * 1000 + q * head_dim + d));
      }
    }
  }
  EXPECT_EQ(ctx[0 * hidden + head_dim], -1.f);  // sequence 0 has head 0 only in this test
}

TEST_F(CudaKernels, GatherAndSmallLinearMatchTheReference) {
  const int64_t width = 40, out_features = 3;
  const auto hidden = random_floats(10 * width, 11), weight = random_floats(out_features * width, 12),
             bias = random_floats(out_features, 13);
  const std::vector<int32_t> starts{0, 4, 9, 10};
  const DeviceBuffer h = to_device(hidden), w = to_device(weight), b = to_device(bias), st = to_device(starts);
  DeviceBuffer first(3 * width * 4), out(3 * out_features * 4);
  launch_gather_rows(static_cast<const float*>(h.get()), static_cast<const int32_t*>(st.get()), 3, width,
                     static_cast<float*>(first.get()), nullptr);
  for (Activation act : {Activation::kNone, Activation::kTanh, Activation::kGeluErf}) {
    launch_small_linear(static_cast<const float*>(first.get()), 3, width, static_cast<const float*>(w.get()),
                        static_cast<const float*>(b.get()), out_features, act, static_cast<float*>(out.get()), nullptr);
    const auto got = to_host<float>(out, 3 * out_features);
    for (int64_t s = 0; s < 3; ++s) {
      for (int64_t n = 0; n < out_features; ++n) {
        double x = bias[static_cast<size_t>(n)];
        for (int64_t k = 0; k < width; ++k) {
          x += double{hidden[static_cast<size_t>(starts[static_cast<size_t>(s)] * width + k)]} *
               weight[static_cast<size_t>(n * width + k)];
        }
        const double want = act == Activation::kTanh     ? std::tanh(x)
                            : act == Activation::kGeluErf ? 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)))
                                                          : x;
        EXPECT_NEAR(got[static_cast<size_t>(s * out_features + n)], want, 1e-5);
      }
    }
  }
}

// cuBLASLt's linear with each epilogue the backend uses: bias, bias + GELU (float16, cuBLASLt's
// tanh form, within float16 rounding of the erf GELU), and the in-place residual accumulate.
TEST_F(CudaKernels, LtMatmulEpiloguesMatchTheReference) {
  const int64_t T = 37, K = 64, N = 48;
  const auto x = random_floats(T * K, 14, 0.5f), w = random_floats(N * K, 15, 0.2f), b = random_floats(N, 16),
             residual = random_floats(T * N, 17);
  std::vector<double> ref(static_cast<size_t>(T * N));
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t n = 0; n < N; ++n) {
      double acc = b[static_cast<size_t>(n)];
      for (int64_t k = 0; k < K; ++k) acc += double{x[static_cast<size_t>(t * K + k)]} * w[static_cast<size_t>(n * K + k)];
      ref[static_cast<size_t>(t * N + n)] = acc;
    }
  }
  DeviceBuffer workspace(kCublasWorkspaceBytes);
  LtMatmul matmul(workspace.get(), kCublasWorkspaceBytes);
  const DeviceBuffer dx = to_device(x), dw = to_device(w), db = to_device(b);
  // float32, bias, then accumulate onto a residual in place.
  DeviceBuffer out = to_device(residual);
  matmul.run({.weight = dw.get(), .input = dx.get(), .output = out.get(), .bias = db.get(), .tokens = T,
              .in_features = K, .out_features = N, .accumulate = true},
             nullptr);
  auto got = to_host<float>(out, static_cast<size_t>(T * N));
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], ref[i] + residual[i], 1e-4) << i;
  // float16 inputs and output, bias + GELU.
  std::vector<__half> xh(x.size()), wh(w.size()), bh(b.size());
  for (size_t i = 0; i < x.size(); ++i) xh[i] = __float2half_rn(x[i]);
  for (size_t i = 0; i < w.size(); ++i) wh[i] = __float2half_rn(w[i]);
  for (size_t i = 0; i < b.size(); ++i) bh[i] = __float2half_rn(b[i]);
  const DeviceBuffer dxh = to_device(xh), dwh = to_device(wh), dbh = to_device(bh);
  DeviceBuffer outh(T * N * 2);
  matmul.run({.weight = dwh.get(), .input = dxh.get(), .output = outh.get(), .bias = dbh.get(), .tokens = T,
              .in_features = K, .out_features = N, .in_type = ElementType::kFloat16,
              .out_type = ElementType::kFloat16, .gelu = true},
             nullptr);
  const auto goth = to_host<__half>(outh, static_cast<size_t>(T * N));
  double worst = 0;
  for (size_t i = 0; i < goth.size(); ++i) {
    const double v = ref[i], gelu = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
    worst = std::max(worst, std::abs(__half2float(goth[i]) - gelu));
  }
  std::printf("[ cuda     ] float16 linear + GELU epilogue: max |d| %.2e against float64 erf GELU\n", worst);
  EXPECT_LT(worst, 2e-2);
}

}  // namespace
}  // namespace rerankd::cuda
