// The CPU backend's decoder ops (Backend's "a decoder's ops") against plain double-precision loops
// written here: token embeddings in each stored dtype, RMSNorm (Gemma's offset 1 too), the gated
// activations, linear layers without bias and with the residual add, rotary queries and keys with
// Qwen3's per-head norms, causal grouped-query attention, and the last-token gather. Batches of
// sequences of 1, 3, 17 and 64 tokens (and 130 for attention's query blocks), 0-based positions.
// The suite is CpuKernels, so the isa.* entries run it at every ISA level too.
#include <gtest/gtest.h>

#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/cpu_isa.h"
#include "kernels/cpu/cpu_matrix.h"
#include "kernels/cpu/narrow_convert.h"

namespace rerankd::cpu {
namespace {

std::vector<float> random_values(size_t n, float scale, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.f, scale);
  std::vector<float> x(n);
  for (float& v : x) v = normal(rng);
  return x;
}

TensorView view_of(const void* data, size_t nbytes, DType dtype, std::vector<int64_t> shape) {
  TensorView t;
  t.name = "test";
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data = static_cast<const std::byte*>(data);
  t.nbytes = nbytes;
  return t;
}
TensorView view_of(const std::vector<float>& v, std::vector<int64_t> shape) {
  return view_of(v.data(), v.size() * sizeof(float), DType::kF32, std::move(shape));
}

// The precisions this machine runs: bf16 only where it is native (CpuBackend refuses it elsewhere).
std::vector<CpuPrecision> precisions() {
  std::vector<CpuPrecision> p{CpuPrecision::kFloat32, CpuPrecision::kInt8};
  if (cpu_has_bf16()) p.push_back(CpuPrecision::kBFloat16);
  return p;
}

PackedBatch batch_of(const std::vector<int32_t>& lengths, int32_t vocab, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(0, vocab - 1);
  PackedBatch batch;  // the decoders' rule: positions 0, 1, 2, ...
  for (const int32_t length : lengths) {
    std::vector<int32_t> ids(static_cast<size_t>(length));
    for (int32_t& i : ids) i = id(rng);
    batch.add(ids);
  }
  return batch;
}

const std::vector<int32_t> kLengths{1, 3, 17, 64};

std::unique_ptr<DeviceMatrix> matrix_with(Backend& backend, const std::vector<float>& values, int64_t rows,
                                          int64_t width) {
  auto m = backend.new_matrix(rows, width, MatrixUse::kGeneral);
  std::memcpy(as_cpu(*m).write_floats(), values.data(), values.size() * sizeof(float));
  m->rows = rows;
  return m;
}

std::vector<float> floats_of(const DeviceMatrix& m) {
  const float* x = as_cpu(m).floats();
  return std::vector<float>(x, x + m.rows * m.width);
}

// The narrow form a linear layer would read from `m`, as bytes, for comparing two matrices.
std::vector<uint8_t> narrow_bytes(const DeviceMatrix& m, int64_t rows) {
  const CpuMatrix& c = as_cpu(m);
  const size_t n = static_cast<size_t>(rows * m.width);
  std::vector<uint8_t> bytes;
  if (c.narrow_form() == NarrowForm::kBFloat16) {
    const auto* p = reinterpret_cast<const uint8_t*>(c.bf16(rows));
    bytes.assign(p, p + 2 * n);
  } else if (c.narrow_form() == NarrowForm::kInt8) {
    const QuantizedRows q = c.quantized(rows);
    bytes.assign(q.values, q.values + n);
    const auto* s = reinterpret_cast<const uint8_t*>(q.row_inverse_scale);
    bytes.insert(bytes.end(), s, s + 4 * rows);
  } else {
    const auto* p = reinterpret_cast<const uint8_t*>(c.floats());
    bytes.assign(p, p + 4 * n);
  }
  return bytes;
}

// A matrix kept only in its narrow form must hold what the float32 one converts to.
void expect_same_narrow_form(const DeviceMatrix& general, const DeviceMatrix& linear_input) {
  const int64_t rows = round_rows(general.rows);
  EXPECT_EQ(narrow_bytes(linear_input, rows), narrow_bytes(general, rows));
}

double rms_reference(const float* x, int64_t n, const std::vector<float>& gamma, double eps, double offset, int64_t i) {
  double squares = 0;
  for (int64_t j = 0; j < n; ++j) squares += static_cast<double>(x[j]) * x[j];
  return x[i] / std::sqrt(squares / static_cast<double>(n) + eps) * (offset + gamma[static_cast<size_t>(i)]);
}

TEST(CpuKernels, DecoderEmbedTokensWidensEachStoredDtypeAndScales) {
  const int64_t vocab = 50, width = 64;
  std::mt19937 rng(3);
  std::uniform_int_distribution<uint32_t> bits(0, 0xffffffffu);
  // Random normal numbers built from their fields, decoded here independently of tensor_view.cpp.
  std::vector<uint16_t> f16(vocab * width), bf16(vocab * width);
  std::vector<double> f16_value(f16.size()), bf16_value(bf16.size());
  for (size_t i = 0; i < f16.size(); ++i) {
    const uint32_t r = bits(rng), sign = r & 1, exponent = 10 + (r >> 1) % 11, mantissa = (r >> 8) & 0x3ff;
    f16[i] = static_cast<uint16_t>(sign << 15 | exponent << 10 | mantissa);
    f16_value[i] = (sign ? -1 : 1) * std::ldexp(1.0 + mantissa / 1024.0, static_cast<int>(exponent) - 15);
    const uint32_t b_exponent = 120 + (r >> 18) % 15, b_mantissa = (r >> 24) & 0x7f;
    bf16[i] = static_cast<uint16_t>(sign << 15 | b_exponent << 7 | b_mantissa);
    bf16_value[i] = (sign ? -1 : 1) * std::ldexp(1.0 + b_mantissa / 128.0, static_cast<int>(b_exponent) - 127);
  }
  const auto f32 = random_values(static_cast<size_t>(vocab * width), 1.f, 4);
  std::vector<double> f32_value(f32.begin(), f32.end());

  const PackedBatch batch = batch_of(kLengths, static_cast<int32_t>(vocab), 5);
  const auto tokens = static_cast<int64_t>(batch.num_tokens());
  CpuBackend backend(CpuPrecision::kFloat32, 2);
  struct Case {
    DType dtype;
    const void* data;
    const std::vector<double>* values;
  };
  for (const Case& c : {Case{DType::kF32, f32.data(), &f32_value}, Case{DType::kF16, f16.data(), &f16_value},
                        Case{DType::kBF16, bf16.data(), &bf16_value}}) {
    for (const float scale : {1.f, 8.f}) {
      const TensorView table = view_of(c.data, static_cast<size_t>(vocab * width) * dtype_size(c.dtype), c.dtype,
                                       {vocab, width});
      const auto tables = backend.load_token_embeddings(table, scale);
      auto out = backend.new_matrix(tokens, width, MatrixUse::kGeneral);
      std::fill_n(as_cpu(*out).write_floats(), out->capacity * width, 7.f);  // stale rows
      backend.set_batch(batch);
      backend.embed_tokens(*tables, *out);
      ASSERT_EQ(out->rows, tokens);
      const float* y = as_cpu(*out).floats();
      for (int64_t t = 0; t < tokens; ++t) {
        for (int64_t i = 0; i < width; ++i) {
          const double want = (*c.values)[static_cast<size_t>(batch.ids[static_cast<size_t>(t)] * width + i)] * scale;
          ASSERT_NEAR(y[t * width + i], want, 1e-7 * std::abs(want)) << dtype_name(c.dtype) << " " << t << "," << i;
        }
      }
      // The rows the matmuls read past the batch: zeroed, so the residual stream starts bounded.
      for (int64_t i = tokens * width; i < round_rows(tokens) * width; ++i) ASSERT_EQ(y[i], 0.f);
    }
  }
}

TEST(CpuKernels, DecoderRmsNormMatchesDoublesAndWritesTheNarrowForm) {
  for (const CpuPrecision precision : precisions()) {
    CpuBackend backend(precision, 2);
    for (const int64_t width : {1024, 128, 40}) {
      for (const float offset : {0.f, 1.f}) {
        const int64_t rows = 85;
        const auto x = random_values(static_cast<size_t>(rows * width), 3.f, static_cast<unsigned>(width));
        const auto gamma = random_values(static_cast<size_t>(width), 0.5f, 9);
        const double eps = 1e-6;
        const auto norm = backend.load_rms_norm(view_of(gamma, {width}), eps, offset);
        const auto in = matrix_with(backend, x, rows, width);
        auto general = backend.new_matrix(rows, width, MatrixUse::kGeneral);
        auto linear_input = backend.new_matrix(rows, width, MatrixUse::kLinearInput);
        backend.rms_norm(*in, *norm, *general);
        backend.rms_norm(*in, *norm, *linear_input);
        ASSERT_EQ(general->rows, rows);
        const auto y = floats_of(*general);
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t i = 0; i < width; ++i) {
            const double want = rms_reference(x.data() + r * width, width, gamma, eps, offset, i);
            ASSERT_NEAR(y[static_cast<size_t>(r * width + i)], want, 1e-5 * std::max(1.0, std::abs(want)))
                << precision_name(precision) << " width " << width << " offset " << offset << " at " << r << "," << i;
          }
        }
        expect_same_narrow_form(*general, *linear_input);
        // In place, as a graph may call it.
        auto inout = matrix_with(backend, x, rows, width);
        backend.rms_norm(*inout, *norm, *inout);
        EXPECT_EQ(floats_of(*inout), y);
      }
    }
  }
}

TEST(CpuKernels, DecoderGatedActivationsMatchDoubles) {
  for (const CpuPrecision precision : precisions()) {
    CpuBackend backend(precision, 2);
    const int64_t rows = 85, width = 200;
    auto x = random_values(static_cast<size_t>(rows * 2 * width), 3.f, 21);
    x[0] = -30.f, x[1] = 30.f, x[2] = 0.f, x[3] = -1e-20f;  // the tails and zero
    for (const GatedActivation activation : {GatedActivation::kSilu, GatedActivation::kGeluTanh}) {
      const auto gate_up = matrix_with(backend, x, rows, 2 * width);
      auto general = backend.new_matrix(rows, width, MatrixUse::kGeneral);
      auto linear_input = backend.new_matrix(rows, width, MatrixUse::kLinearInput);
      backend.gated_activation(*gate_up, activation, *general);
      backend.gated_activation(*gate_up, activation, *linear_input);
      ASSERT_EQ(general->rows, rows);
      const auto y = floats_of(*general);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t i = 0; i < width; ++i) {
          const double g = x[static_cast<size_t>(r * 2 * width + i)], up = x[static_cast<size_t>(r * 2 * width + width + i)];
          // 1 + tanh(u) as 2 e^(2u) / (1 + e^(2u)): for u << 0, 1 + std::tanh(u) cancels to 0 even in
          // double, where the float32 kernel still has a (tiny) value.
          const double u = std::sqrt(2 / M_PI) * (g + 0.044715 * g * g * g);
          const double act = activation == GatedActivation::kSilu ? g / (1 + std::exp(-g))
                                                                  : 0.5 * g * 2 / (1 + std::exp(-2 * u));
          const double want = act * up;
          ASSERT_NEAR(y[static_cast<size_t>(r * width + i)], want, 1e-5 * std::abs(want) + 1e-30)
              << precision_name(precision) << " " << static_cast<int>(activation) << " g=" << g;
        }
      }
      expect_same_narrow_form(*general, *linear_input);
    }
  }
}

// y = x W^T (+ b), and inout += x W^T (+ b), over two stacked blocks, against doubles; the
// tolerance is the precision's, relative to sum |x_k w_k| (what rounding the factors scales with).
TEST(CpuKernels, DecoderLinearWithoutBiasAndResidualLinearMatchDoubles) {
  const int64_t rows = 85, in = 72, out_a = 16, out_b = 24, out = out_a + out_b;
  const auto x = random_values(static_cast<size_t>(rows * in), 1.f, 31);
  const auto w = random_values(static_cast<size_t>(out * in), 0.2f, 32);
  const auto b = random_values(static_cast<size_t>(out), 1.f, 33);
  const auto residual = random_values(static_cast<size_t>(rows * out), 2.f, 34);
  const TensorView wa = view_of(w.data(), static_cast<size_t>(out_a * in) * 4, DType::kF32, {out_a, in});
  const TensorView wb = view_of(w.data() + out_a * in, static_cast<size_t>(out_b * in) * 4, DType::kF32, {out_b, in});
  const TensorView ba = view_of(b.data(), out_a * 4, DType::kF32, {out_a});
  const TensorView bb = view_of(b.data() + out_a, out_b * 4, DType::kF32, {out_b});
  const TensorView* weights[] = {&wa, &wb};
  const TensorView* biases[] = {&ba, &bb};

  for (const CpuPrecision precision : precisions()) {
    const double tolerance = precision == CpuPrecision::kFloat32 ? 1e-6 : precision == CpuPrecision::kInt8 ? 2e-2 : 1e-2;
    CpuBackend backend(precision, 2);
    for (const LinearUse use : {LinearUse::kEncoder, LinearUse::kHead}) {
      for (const bool with_bias : {false, true}) {
        const auto linear = backend.load_linear(weights, with_bias ? std::span<const TensorView* const>(biases)
                                                                   : std::span<const TensorView* const>(), use);
        const auto input = matrix_with(backend, x, rows, in);
        auto y = backend.new_matrix(rows, out, MatrixUse::kGeneral);
        backend.linear(*input, *linear, Epilogue::kNone, *y);
        auto sum = matrix_with(backend, residual, rows, out);
        backend.linear_residual(*input, *linear, *sum);
        ASSERT_EQ(sum->rows, rows);
        const auto got = floats_of(*y), got_sum = floats_of(*sum);
        const double tol = use == LinearUse::kHead ? 1e-6 : tolerance;
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t n = 0; n < out; ++n) {
            double dot = with_bias ? b[static_cast<size_t>(n)] : 0, magnitude = 0;
            for (int64_t k = 0; k < in; ++k) {
              const double p = static_cast<double>(x[static_cast<size_t>(r * in + k)]) * w[static_cast<size_t>(n * in + k)];
              dot += p;
              magnitude += std::abs(p);
            }
            const auto i = static_cast<size_t>(r * out + n);
            const std::string where = std::string(precision_name(precision)) + (use == LinearUse::kHead ? " head" : "") +
                                      (with_bias ? " bias" : " no bias") + " at " + std::to_string(r) + "," +
                                      std::to_string(n);
            ASSERT_NEAR(got[i], dot, tol * magnitude + 1e-6) << where;
            ASSERT_NEAR(got_sum[i], residual[i] + dot, tol * magnitude + 1e-6 * (1 + std::abs(residual[i]))) << where;
          }
        }
      }
    }
  }
}

struct AttentionCase {
  int64_t q_heads, kv_heads, head_dim;
};
const AttentionCase kAttentionCases[] = {{4, 4, 32}, {4, 2, 64}, {8, 1, 128}, {16, 8, 128}};

// Hugging Face's angle for pair i at `position`: float32 inverse frequency and product.
double hf_angle(int64_t position, int64_t i, int64_t head_dim, double theta) {
  const float inverse = 1.f / std::pow(static_cast<float>(theta), static_cast<float>(2 * i) / static_cast<float>(head_dim));
  return static_cast<float>(position) * inverse;
}

TEST(CpuKernels, DecoderRotaryWithHeadNormsMatchesHuggingFacesFormula) {
  const PackedBatch batch = batch_of(kLengths, 100, 41);
  const auto tokens = static_cast<int64_t>(batch.num_tokens());
  CpuBackend backend(CpuPrecision::kFloat32, 2);
  for (const AttentionCase& c : kAttentionCases) {
    for (const int norms : {0, 1, 2}) {  // none; offset 0 (Qwen3); offset 1 (Gemma)
      for (const double theta : {10000.0, 1000000.0}) {
        const DecoderAttentionShape shape{c.q_heads, c.kv_heads, c.head_dim, theta};
        const int64_t width = shape.q_width() + 2 * shape.kv_width(), d = c.head_dim, half = d / 2;
        const auto x = random_values(static_cast<size_t>(tokens * width), 1.f, static_cast<unsigned>(d + norms));
        const auto q_gamma = random_values(static_cast<size_t>(d), 0.5f, 42);
        const auto k_gamma = random_values(static_cast<size_t>(d), 0.5f, 43);
        const float offset = norms == 2 ? 1.f : 0.f;
        const auto q_norm = backend.load_rms_norm(view_of(q_gamma, {d}), 1e-6, offset);
        const auto k_norm = backend.load_rms_norm(view_of(k_gamma, {d}), 1e-6, offset);
        auto qkv = matrix_with(backend, x, tokens, width);
        backend.set_batch(batch);
        backend.rotate_queries_keys(*qkv, shape, norms ? q_norm.get() : nullptr, norms ? k_norm.get() : nullptr);
        const auto y = floats_of(*qkv);
        for (int64_t t = 0; t < tokens; ++t) {
          const int64_t position = batch.positions[static_cast<size_t>(t)];
          for (int64_t h = 0; h < c.q_heads + c.kv_heads; ++h) {
            const float* head = x.data() + t * width + h * d;
            std::vector<double> normed(head, head + d);
            if (norms) {
              for (int64_t i = 0; i < d; ++i) {
                normed[static_cast<size_t>(i)] = rms_reference(head, d, h < c.q_heads ? q_gamma : k_gamma, 1e-6, offset, i);
              }
            }
            for (int64_t i = 0; i < half; ++i) {
              const double angle = hf_angle(position, i, d, theta);
              const double x1 = normed[static_cast<size_t>(i)], x2 = normed[static_cast<size_t>(i + half)];
              const double want1 = x1 * std::cos(angle) - x2 * std::sin(angle);
              const double want2 = x2 * std::cos(angle) + x1 * std::sin(angle);
              const double tol = 1e-5 * std::max(1.0, std::abs(x1) + std::abs(x2));
              const size_t at = static_cast<size_t>(t * width + h * d + i);
              ASSERT_NEAR(y[at], want1, tol) << c.q_heads << "/" << c.kv_heads << "x" << d << " norms " << norms
                                             << " token " << t << " head " << h << " pair " << i;
              ASSERT_NEAR(y[at + static_cast<size_t>(half)], want2, tol);
            }
          }
          // v is left as it was.
          for (int64_t i = shape.q_width() + shape.kv_width(); i < width; ++i) {
            ASSERT_EQ(y[static_cast<size_t>(t * width + i)], x[static_cast<size_t>(t * width + i)]);
          }
        }
      }
    }
  }
}

TEST(CpuKernels, DecoderCausalGroupedQueryAttentionMatchesDoubles) {
  const PackedBatch batch = batch_of({1, 3, 17, 64, 130}, 100, 51);
  const auto tokens = static_cast<int64_t>(batch.num_tokens());
  for (const CpuPrecision precision : {CpuPrecision::kFloat32, CpuPrecision::kInt8}) {
    CpuBackend backend(precision, 2);
    for (const AttentionCase& c : kAttentionCases) {
      const DecoderAttentionShape shape{c.q_heads, c.kv_heads, c.head_dim, 10000};
      const int64_t width = shape.q_width() + 2 * shape.kv_width(), d = c.head_dim, group = c.q_heads / c.kv_heads;
      const auto x = random_values(static_cast<size_t>(tokens * width), 1.f, static_cast<unsigned>(d + group));
      const auto qkv = matrix_with(backend, x, tokens, width);
      auto out = backend.new_matrix(tokens, shape.q_width(), MatrixUse::kAttention);
      backend.set_batch(batch);
      backend.causal_attention(*qkv, shape, *out);
      ASSERT_EQ(out->rows, tokens);
      const auto y = floats_of(*out);
      for (size_t s = 0; s < batch.num_sequences(); ++s) {
        const int64_t begin = batch.seq_starts[s], end = batch.seq_starts[s + 1];
        for (int64_t h = 0; h < c.q_heads; ++h) {
          const int64_t kv = h / group;
          for (int64_t t = begin; t < end; ++t) {
            const float* q = x.data() + t * width + h * d;
            std::vector<double> p;
            double max = -1e300;
            for (int64_t j = begin; j <= t; ++j) {
              const float* k = x.data() + j * width + shape.q_width() + kv * d;
              double dot = 0;
              for (int64_t i = 0; i < d; ++i) dot += static_cast<double>(q[i]) * k[i];
              p.push_back(dot / std::sqrt(static_cast<double>(d)));
              max = std::max(max, p.back());
            }
            double sum = 0;
            for (double& v : p) sum += v = std::exp(v - max);
            for (int64_t i = 0; i < d; ++i) {
              double want = 0;
              for (int64_t j = begin; j <= t; ++j) {
                want += p[static_cast<size_t>(j - begin)] / sum *
                        x[static_cast<size_t>(j * width + shape.q_width() + shape.kv_width() + kv * d + i)];
              }
              ASSERT_NEAR(y[static_cast<size_t>(t * shape.q_width() + h * d + i)], want, 1e-5 * std::max(1.0, std::abs(want)))
                  << c.q_heads << "/" << c.kv_heads << "x" << d << " sequence " << s << " token " << t - begin
                  << " head " << h << " dim " << i;
            }
          }
        }
      }
    }
  }
}

TEST(CpuKernels, DecoderGatherSequenceEndsTakesEachLastToken) {
  const PackedBatch batch = batch_of(kLengths, 100, 61);
  const auto tokens = static_cast<int64_t>(batch.num_tokens());
  const int64_t width = 24;
  CpuBackend backend(CpuPrecision::kFloat32, 2);
  const auto x = random_values(static_cast<size_t>(tokens * width), 1.f, 62);
  const auto in = matrix_with(backend, x, tokens, width);
  auto out = backend.new_matrix(static_cast<int64_t>(batch.num_sequences()), width, MatrixUse::kGeneral);
  backend.set_batch(batch);
  backend.gather_sequence_ends(*in, *out);
  ASSERT_EQ(out->rows, static_cast<int64_t>(batch.num_sequences()));
  const auto y = floats_of(*out);
  for (size_t s = 0; s < batch.num_sequences(); ++s) {
    const int64_t last = batch.seq_starts[s + 1] - 1;
    for (int64_t i = 0; i < width; ++i) {
      ASSERT_EQ(y[s * static_cast<size_t>(width) + static_cast<size_t>(i)], x[static_cast<size_t>(last * width + i)]);
    }
  }
}

// One Qwen3-Reranker-0.6B layer (hidden 1024, 16 query / 8 key-value heads of 128, FFN 3072) on
// batches of 256-token pairs, op by op, to show where a layer's time goes. Disabled: run it with
// --gtest_also_run_disabled_tests --gtest_filter=*DecoderLayerTimings.
TEST(CpuKernels, DISABLED_DecoderLayerTimings) {
  const int64_t hidden = 1024, ffn = 3072, length = 256;
  const DecoderAttentionShape shape{16, 8, 128, 1000000};
  const int64_t qkv_width = shape.q_width() + 2 * shape.kv_width();
  const auto w_qkv = random_values(static_cast<size_t>(qkv_width * hidden), 0.03f, 1);
  const auto w_o = random_values(static_cast<size_t>(hidden * shape.q_width()), 0.03f, 2);
  const auto w_gate_up = random_values(static_cast<size_t>(2 * ffn * hidden), 0.03f, 3);
  const auto w_down = random_values(static_cast<size_t>(hidden * ffn), 0.02f, 4);
  const auto gamma = random_values(static_cast<size_t>(hidden), 0.1f, 5);
  const auto head_gamma = random_values(static_cast<size_t>(shape.head_dim), 0.1f, 6);
  for (const CpuPrecision precision : precisions()) {
    CpuBackend backend(precision);
    auto load = [&](const std::vector<float>& w, int64_t out, int64_t in) {
      const TensorView v = view_of(w, {out, in});
      const TensorView* views[] = {&v};
      return backend.load_linear(views, {}, LinearUse::kEncoder);
    };
    const auto qkv_proj = load(w_qkv, qkv_width, hidden), o_proj = load(w_o, hidden, shape.q_width());
    const auto gate_up_proj = load(w_gate_up, 2 * ffn, hidden), down_proj = load(w_down, hidden, ffn);
    const auto norm = backend.load_rms_norm(view_of(gamma, {hidden}), 1e-6, 0.f);
    const auto head_norm = backend.load_rms_norm(view_of(head_gamma, {shape.head_dim}), 1e-6, 0.f);
    for (const int32_t pairs : {1, 8}) {
      const PackedBatch batch = batch_of(std::vector<int32_t>(static_cast<size_t>(pairs), length), 1000, 7);
      const auto tokens = static_cast<int64_t>(batch.num_tokens());
      const auto x = random_values(static_cast<size_t>(tokens * hidden), 1.f, 8);
      auto h = matrix_with(backend, x, tokens, hidden);
      auto normed = backend.new_matrix(tokens, hidden, MatrixUse::kLinearInput);
      auto qkv = backend.new_matrix(tokens, qkv_width, MatrixUse::kAttention);
      auto context = backend.new_matrix(tokens, shape.q_width(), MatrixUse::kAttention);
      auto gate_up = backend.new_matrix(tokens, 2 * ffn, MatrixUse::kGeneral);
      auto act = backend.new_matrix(tokens, ffn, MatrixUse::kLinearInput);
      backend.set_batch(batch);
      const char* names[] = {"rms_norm", "qkv linear", "rotate q/k", "causal attention", "o_proj residual",
                             "rms_norm", "gate_up linear", "gated activation", "down residual"};
      std::vector<double> seconds(std::size(names));
      const int reps = 3;
      for (int rep = 0; rep <= reps; ++rep) {  // the first warms the primitives up
        size_t op = 0;
        auto timed = [&](auto&& f) {
          const auto start = std::chrono::steady_clock::now();
          f();
          if (rep > 0) seconds[op] += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
          ++op;
        };
        timed([&] { backend.rms_norm(*h, *norm, *normed); });
        timed([&] { backend.linear(*normed, *qkv_proj, Epilogue::kNone, *qkv); });
        timed([&] { backend.rotate_queries_keys(*qkv, shape, head_norm.get(), head_norm.get()); });
        timed([&] { backend.causal_attention(*qkv, shape, *context); });
        timed([&] { backend.linear_residual(*context, *o_proj, *h); });
        timed([&] { backend.rms_norm(*h, *norm, *normed); });
        timed([&] { backend.linear(*normed, *gate_up_proj, Epilogue::kNone, *gate_up); });
        timed([&] { backend.gated_activation(*gate_up, GatedActivation::kSilu, *act); });
        timed([&] { backend.linear_residual(*act, *down_proj, *h); });
      }
      const double total = std::accumulate(seconds.begin(), seconds.end(), 0.0);
      std::printf("[ timings  ] %s, %d x %lld tokens, %d threads: %.2f ms a layer\n", precision_name(precision), pairs,
                  static_cast<long long>(length), backend.threads(), 1e3 * total / reps);
      for (size_t i = 0; i < seconds.size(); ++i) {
        std::printf("[ timings  ]   %-18s %8.3f ms %5.1f%%\n", names[i], 1e3 * seconds[i] / reps,
                    100 * seconds[i] / total);
      }
    }
  }
}

}  // namespace
}  // namespace rerankd::cpu
