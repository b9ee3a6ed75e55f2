// Each decoder kernel (kernels/cuda/cuda_decoder_kernels.h) and the bias-less cuBLASLt linear
// against a float64 host loop, on random data. Skipped without a device.
#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>

#include "cuda_test_util.h"
#include "kernels/cuda/cuda_decoder_kernels.h"
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

template <typename T>
const T* cptr(const DeviceBuffer& b) {
  return static_cast<const T*>(b.get());
}

std::vector<double> rms_ref(const float* x, int64_t width, const std::vector<float>& gamma, double eps,
                            double offset) {
  double squares = 0;
  for (int64_t c = 0; c < width; ++c) squares += double{x[c]} * x[c];
  const double inv = 1 / std::sqrt(squares / static_cast<double>(width) + eps);
  std::vector<double> y(static_cast<size_t>(width));
  for (int64_t c = 0; c < width; ++c) y[static_cast<size_t>(c)] = x[c] * inv * (offset + gamma[static_cast<size_t>(c)]);
  return y;
}

using CudaDecoderKernels = CudaTest;

// Float32 in, both forms out, with Gemma's (1 + w) and without; then float16 in, in place.
TEST_F(CudaDecoderKernels, RmsNormMatchesTheReference) {
  const int64_t rows = 3, width = 200;
  const auto x = random_floats(rows * width, 1, 2.f), gamma = random_floats(width, 2);
  const DeviceBuffer in = to_device(x), g = to_device(gamma);
  for (const float offset : {0.f, 1.f}) {
    DeviceBuffer out(rows * width * 4), narrow(rows * width * 2);
    launch_rms_norm(in.get(), ElementType::kFloat32, rows, width, {cptr<float>(g), 1e-6f, offset},
                    static_cast<float*>(out.get()), narrow.get(), ElementType::kFloat16, nullptr);
    const auto got = to_host<float>(out, static_cast<size_t>(rows * width));
    const auto got_half = to_host<__half>(narrow, static_cast<size_t>(rows * width));
    for (int64_t r = 0; r < rows; ++r) {
      const auto want = rms_ref(x.data() + r * width, width, gamma, 1e-6, offset);
      for (int64_t c = 0; c < width; ++c) {
        const size_t k = static_cast<size_t>(r * width + c);
        EXPECT_NEAR(got[k], want[static_cast<size_t>(c)], 1e-5) << offset << " " << r << " " << c;
        EXPECT_EQ(__half2float(got_half[k]), __half2float(__float2half_rn(got[k])));
      }
    }
  }
  std::vector<__half> xh(x.size());
  std::vector<float> xr(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    xh[i] = __float2half_rn(x[i]);
    xr[i] = __half2float(xh[i]);
  }
  DeviceBuffer h = to_device(xh);
  launch_rms_norm(h.get(), ElementType::kFloat16, rows, width, {cptr<float>(g), 1e-6f, 0.f}, nullptr, h.get(),
                  ElementType::kFloat16, nullptr);
  const auto got = to_host<__half>(h, x.size());
  for (int64_t r = 0; r < rows; ++r) {
    const auto want = rms_ref(xr.data() + r * width, width, gamma, 1e-6, 0);
    for (int64_t c = 0; c < width; ++c) {
      const double w = want[static_cast<size_t>(c)];
      EXPECT_NEAR(__half2float(got[static_cast<size_t>(r * width + c)]), w, std::abs(w) * 1e-3 + 1e-4);
    }
  }
}

TEST_F(CudaDecoderKernels, TokenEmbeddingsAreScaledRows) {
  const int64_t vocab = 30, width = 72;
  const auto word = random_floats(vocab * width, 3);
  const std::vector<int32_t> ids{0, 29, 7, 7, 12};
  const DeviceBuffer w = to_device(word), i = to_device(ids);
  const auto tokens = static_cast<int64_t>(ids.size());
  DeviceBuffer out(tokens * width * 4);
  launch_embed_tokens(cptr<int32_t>(i), tokens, width, w.get(), ElementType::kFloat32, 2.5f,
                      static_cast<float*>(out.get()), nullptr, ElementType::kFloat16, nullptr);
  const auto got = to_host<float>(out, static_cast<size_t>(tokens * width));
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t c = 0; c < width; ++c) {
      EXPECT_EQ(got[static_cast<size_t>(t * width + c)],
                word[static_cast<size_t>(ids[static_cast<size_t>(t)] * width + c)] * 2.5f);
    }
  }
}

TEST_F(CudaDecoderKernels, GatedActivationsMatchTheReference) {
  const int64_t rows = 4, width = 300;
  const auto gate_up = random_floats(rows * 2 * width, 4, 3.f);
  const DeviceBuffer in = to_device(gate_up);
  for (const GatedKind kind : {GatedKind::kSilu, GatedKind::kGeluTanh}) {
    DeviceBuffer out(rows * width * 4);
    launch_gated_activation(in.get(), rows, width, kind, out.get(), nullptr, ElementType::kFloat32, nullptr);
    const auto got = to_host<float>(out, static_cast<size_t>(rows * width));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = 0; c < width; ++c) {
        const double g = gate_up[static_cast<size_t>(r * 2 * width + c)];
        const double u = gate_up[static_cast<size_t>(r * 2 * width + width + c)];
        const double a = kind == GatedKind::kSilu
                             ? g / (1 + std::exp(-g))
                             : 0.5 * g * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (g + 0.044715 * g * g * g)));
        EXPECT_NEAR(got[static_cast<size_t>(r * width + c)], a * u, 1e-5 * (1 + std::abs(a * u)));
      }
    }
  }
}

// Qwen3's per-head norms then rotate-half, with 4 query and 2 key/value heads of 64; v untouched.
// The reference forms the angle as Hugging Face does (a float32 product), then works in float64.
TEST_F(CudaDecoderKernels, RotaryWithPerHeadNormsMatchesTheReference) {
  const int32_t q_heads = 4, kv_heads = 2, D = 64, half = D / 2;
  const std::vector<int32_t> positions{0, 1, 2, 0, 7000};
  const auto tokens = static_cast<int64_t>(positions.size());
  const int64_t width = int64_t{q_heads + 2 * kv_heads} * D;
  const auto qkv = random_floats(static_cast<size_t>(tokens * width), 5);
  const auto q_gamma = random_floats(D, 6), k_gamma = random_floats(D, 7);
  const DeviceBuffer p = to_device(positions), qg = to_device(q_gamma), kg = to_device(k_gamma);
  for (const bool norms : {false, true}) {
    DeviceBuffer data = to_device(qkv);
    RotaryArgs args;
    args.tokens = tokens;
    args.q_heads = q_heads;
    args.kv_heads = kv_heads;
    args.head_dim = D;
    args.frequencies = rotary_frequencies(D, 1e6);
    if (norms) {
      args.q_norm = {cptr<float>(qg), 1e-6f, 0.f};
      args.k_norm = {cptr<float>(kg), 1e-6f, 0.f};
    }
    launch_rotate_queries_keys(data.get(), cptr<int32_t>(p), args, ElementType::kFloat32, nullptr);
    const auto got = to_host<float>(data, qkv.size());
    for (int64_t t = 0; t < tokens; ++t) {
      for (int32_t h = 0; h < q_heads + 2 * kv_heads; ++h) {
        const float* x = qkv.data() + t * width + int64_t{h} * D;
        const float* y = got.data() + t * width + int64_t{h} * D;
        if (h >= q_heads + kv_heads) {  // v
          for (int32_t d = 0; d < D; ++d) EXPECT_EQ(y[d], x[d]);
          continue;
        }
        std::vector<double> v(x, x + D);
        if (norms) v = rms_ref(x, D, h < q_heads ? q_gamma : k_gamma, 1e-6, 0);
        for (int32_t i = 0; i < half; ++i) {
          const double angle = static_cast<float>(positions[static_cast<size_t>(t)]) * args.frequencies.inv_freq[i];
          const double c = std::cos(angle), s = std::sin(angle);
          const double y1 = v[static_cast<size_t>(i)] * c - v[static_cast<size_t>(i + half)] * s;
          const double y2 = v[static_cast<size_t>(i + half)] * c + v[static_cast<size_t>(i)] * s;
          EXPECT_NEAR(y[i], y1, 2e-5 * (1 + std::abs(y1))) << norms << " " << t << " " << h << " " << i;
          EXPECT_NEAR(y[i + half], y2, 2e-5 * (1 + std::abs(y2))) << norms << " " << t << " " << h << " " << i;
        }
      }
    }
  }
}

// Causal grouped-query attention per sequence of a packed batch, against a float64 loop.
void check_causal_attention(const std::vector<int32_t>& lengths, int32_t q_heads, int32_t kv_heads, int32_t D,
                            ElementType type, double tolerance) {
  std::vector<int32_t> starts{0};
  for (int32_t l : lengths) starts.push_back(starts.back() + l);
  const int64_t tokens = starts.back(), width = int64_t{q_heads + 2 * kv_heads} * D, out_width = int64_t{q_heads} * D;
  auto qkv = random_floats(static_cast<size_t>(tokens * width), 8 + static_cast<uint32_t>(D));
  std::vector<__half> qkv_half(qkv.size());
  for (size_t i = 0; i < qkv.size(); ++i) {
    qkv_half[i] = __float2half_rn(qkv[i]);
    if (type == ElementType::kFloat16) qkv[i] = __half2float(qkv_half[i]);
  }
  const bool half = type == ElementType::kFloat16;
  const DeviceBuffer in = half ? to_device(qkv_half) : to_device(qkv), s = to_device(starts);
  const int64_t element = half ? 2 : 4;
  DeviceBuffer out(tokens * out_width * element);
  const int32_t longest = *std::max_element(lengths.begin(), lengths.end());
  launch_causal_attention(in.get(), cptr<int32_t>(s),
                          {.sequences = static_cast<int64_t>(lengths.size()), .longest = longest, .q_heads = q_heads,
                           .kv_heads = kv_heads, .head_dim = D},
                          out.get(), type, nullptr);
  check(cudaGetLastError(), "causal attention kernel");
  std::vector<double> got(static_cast<size_t>(tokens * out_width));
  if (half) {
    const auto h = to_host<__half>(out, got.size());
    for (size_t i = 0; i < got.size(); ++i) got[i] = __half2float(h[i]);
  } else {
    const auto f = to_host<float>(out, got.size());
    std::copy(f.begin(), f.end(), got.begin());
  }
  double worst = 0;
  const double scale = 1 / std::sqrt(static_cast<double>(D));
  for (size_t seq = 0; seq < lengths.size(); ++seq) {
    for (int32_t h = 0; h < q_heads; ++h) {
      const int32_t g = h / (q_heads / kv_heads);
      for (int32_t q = 0; q < lengths[seq]; ++q) {
        const float* qv = qkv.data() + (starts[seq] + q) * width + int64_t{h} * D;
        std::vector<double> scores(static_cast<size_t>(q + 1));
        double m = -1e300, sum = 0;
        for (int32_t k = 0; k <= q; ++k) {
          const float* kv = qkv.data() + (starts[seq] + k) * width + int64_t{q_heads + g} * D;
          double dot = 0;
          for (int32_t d = 0; d < D; ++d) dot += double{qv[d]} * kv[d];
          scores[static_cast<size_t>(k)] = dot * scale;
          m = std::max(m, dot * scale);
        }
        for (double& x : scores) sum += (x = std::exp(x - m));
        for (int32_t d = 0; d < D; ++d) {
          double want = 0;
          for (int32_t k = 0; k <= q; ++k) {
            want += scores[static_cast<size_t>(k)] / sum *
                    qkv[static_cast<size_t>((starts[seq] + k) * width + int64_t{q_heads + kv_heads + g} * D + d)];
          }
          worst = std::max(worst, std::abs(got[static_cast<size_t>((starts[seq] + q) * out_width + h * D + d)] - want));
        }
      }
    }
  }
  std::printf("[ cuda     ] causal attention, head_dim %d, %s: max |d| %.2e\n", D, half ? "float16" : "float32", worst);
  EXPECT_LT(worst, tolerance);
}

// Lengths across the 16-query tiles and 32-key tiles; one token alone; heads of 64 and of 256
// (Gemma's: past 48 KB of shared memory).
TEST_F(CudaDecoderKernels, CausalAttentionMatchesTheReference) {
  check_causal_attention({1, 17, 40, 5, 33}, 4, 2, 64, ElementType::kFloat32, 1e-5);
  check_causal_attention({70, 3}, 2, 1, 256, ElementType::kFloat32, 1e-5);
  check_causal_attention({100, 9}, 8, 8, 128, ElementType::kFloat16, 2e-3);
}

TEST_F(CudaDecoderKernels, GatherLastRowsTakesEachSequencesLastToken) {
  const int64_t width = 24;
  const auto hidden = random_floats(10 * width, 9);
  const std::vector<int32_t> starts{0, 4, 9, 10};
  const DeviceBuffer h = to_device(hidden), st = to_device(starts);
  DeviceBuffer out(3 * width * 4);
  launch_gather_last_rows(cptr<float>(h), cptr<int32_t>(st), 3, width, static_cast<float*>(out.get()), nullptr);
  const auto got = to_host<float>(out, 3 * width);
  for (int64_t s = 0; s < 3; ++s) {
    for (int64_t c = 0; c < width; ++c) {
      EXPECT_EQ(got[static_cast<size_t>(s * width + c)],
                hidden[static_cast<size_t>((starts[static_cast<size_t>(s) + 1] - 1) * width + c)]);
    }
  }
}

// A Linear without bias: float32 accumulated onto a residual in place (linear_residual), and
// float16 with no epilogue (the decoders' q|k|v and gate|up).
TEST_F(CudaDecoderKernels, LtMatmulWithoutBiasMatchesTheReference) {
  const int64_t T = 21, K = 64, N = 40;
  const auto x = random_floats(T * K, 10, 0.5f), w = random_floats(N * K, 11, 0.2f), residual = random_floats(T * N, 12);
  std::vector<double> ref(static_cast<size_t>(T * N));
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += double{x[static_cast<size_t>(t * K + k)]} * w[static_cast<size_t>(n * K + k)];
      ref[static_cast<size_t>(t * N + n)] = acc;
    }
  }
  DeviceBuffer workspace(kCublasWorkspaceBytes);
  LtMatmul matmul(workspace.get(), kCublasWorkspaceBytes);
  const DeviceBuffer dx = to_device(x), dw = to_device(w);
  DeviceBuffer out = to_device(residual);
  matmul.run({.weight = dw.get(), .input = dx.get(), .output = out.get(), .bias = nullptr, .tokens = T,
              .in_features = K, .out_features = N, .accumulate = true},
             nullptr);
  const auto got = to_host<float>(out, static_cast<size_t>(T * N));
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], ref[i] + residual[i], 1e-4) << i;
  std::vector<__half> xh(x.size()), wh(w.size());
  for (size_t i = 0; i < x.size(); ++i) xh[i] = __float2half_rn(x[i]);
  for (size_t i = 0; i < w.size(); ++i) wh[i] = __float2half_rn(w[i]);
  const DeviceBuffer dxh = to_device(xh), dwh = to_device(wh);
  DeviceBuffer outh(T * N * 2);
  matmul.run({.weight = dwh.get(), .input = dxh.get(), .output = outh.get(), .bias = nullptr, .tokens = T,
              .in_features = K, .out_features = N, .in_type = ElementType::kFloat16,
              .out_type = ElementType::kFloat16},
             nullptr);
  const auto goth = to_host<__half>(outh, static_cast<size_t>(T * N));
  for (size_t i = 0; i < goth.size(); ++i) EXPECT_NEAR(__half2float(goth[i]), ref[i], 1e-2) << i;
  EXPECT_EQ(matmul.fallbacks(), 0);
}

}  // namespace
}  // namespace rerankd::cuda
