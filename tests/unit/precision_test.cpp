// The reduced-precision paths against the float64 reference, on the ranking sets (8 queries x 24
// documents per test model, a decoder's among them): the largest sigmoid-score error and the per-query Kendall tau, within
// the budgets below. float32 runs as the control.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include "engine/reranker.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/cpu_isa.h"
#include "test_data.h"

namespace rerankd {
namespace {

struct Budget {
  double max_sigmoid_error;
  double min_kendall_tau;
};

// The budget is |dsigmoid| <= 0.01 and the same ranking for bf16, <= 0.03 and tau >= 0.95
// for int8. These random models are far more sensitive than a trained reranker (rounding only the
// tiny model's weights to bf16 moves the float64 reference's logits by up to 0.043), and their
// scores crowd together (per query, a sigmoid spread of ~0.12 over 24 documents), so int8's noise
// (RMS ~0.006 in sigmoid) swaps near neighbours: one swapped pair costs 0.007 of tau, and a change of
// float32 rounding elsewhere (1e-7) moves a pair across a quantization step. The limits below are
// regression guards a few pairs below what the engine measures today; docs/performance.md gives
// the measured figures against the budget.
// qwen3-tiny's logits spread over +-10 (std 4.6), so its sigmoid is steep where the int8 noise
// lands: int8 misses the budget there (max |dsigmoid| 0.19, tau 0.93 measured), and the
// guard below only keeps it from getting worse; docs/models.md says so.
Budget budget_for(const std::string& model, const std::string& dtype) {
  if (model == "qwen3-tiny" && dtype == "int8") return {0.21, 0.92};
  if (dtype == "bfloat16") return model == "tiny" ? Budget{0.01, 0.98} : Budget{0.02, 0.98};
  if (dtype == "int8") return model == "tiny" ? Budget{0.035, 0.92} : Budget{0.045, 0.92};
  return {1e-4, 1.0};
}

// Kendall's tau-a of two score lists; pairs the reference calls a tie (within `tie`) are left out,
// since no precision can be asked to order what the exact model barely orders.
double kendall_tau(const std::vector<double>& reference, const std::vector<double>& got, double tie) {
  int64_t concordant = 0, discordant = 0;
  for (size_t i = 0; i < reference.size(); ++i) {
    for (size_t j = i + 1; j < reference.size(); ++j) {
      const double r = reference[i] - reference[j];
      if (std::abs(r) <= tie) continue;
      (r * (got[i] - got[j]) > 0 ? concordant : discordant) += 1;
    }
  }
  const int64_t counted = concordant + discordant;
  return counted == 0 ? 1.0 : static_cast<double>(concordant - discordant) / static_cast<double>(counted);
}

double sigmoid64(double x) { return 1.0 / (1.0 + std::exp(-x)); }

class ReducedPrecisionTest : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(ReducedPrecisionTest, ScoresAndRankingsStayWithinBudget) {
  const auto& [model, dtype] = GetParam();
  if (dtype == "bfloat16" && !cpu::cpu_has_bf16()) {
    GTEST_SKIP() << "this CPU (" << cpu::cpu_isa_name() << ") has no native bf16 matmul";
  }
  const auto expected = testing::expected_pairs("ranking-" + model);
  ASSERT_GE(expected.size(), 100u);
  RerankerOptions options;
  options.model_dir = testing::model_dir(model);
  options.dtype = dtype;
  Reranker reranker(options);
  ASSERT_EQ(reranker.precision(), dtype);

  std::vector<EncodedPair> encoded;
  for (const auto& e : expected) encoded.push_back({e.ids, e.type_ids});
  const auto logits = reranker.logits(encoded);
  ASSERT_EQ(logits.size(), expected.size());

  std::map<std::string, std::pair<std::vector<double>, std::vector<double>>> by_query;  // reference, ours
  double max_error = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const double want = sigmoid64(expected[i].logit), got = sigmoid64(logits[i]);
    max_error = std::max(max_error, std::abs(want - got));
    by_query[expected[i].query].first.push_back(want);
    by_query[expected[i].query].second.push_back(got);
  }
  const Budget budget = budget_for(model, dtype);
  double min_tau = 1, min_tau_strict = 1;
  for (const auto& [query, scores] : by_query) {
    const double tau = kendall_tau(scores.first, scores.second, 1e-3);
    min_tau = std::min(min_tau, tau);
    min_tau_strict = std::min(min_tau_strict, kendall_tau(scores.first, scores.second, 0));
    EXPECT_GE(tau, budget.min_kendall_tau) << "query '" << query << "'";
  }
  std::printf("[ precision] %s %s: max |dsigmoid| %.2e (budget %.2g), min Kendall tau %.4f (%.4f counting near-ties) "
              "over %zu queries\n",
              model.c_str(), dtype.c_str(), max_error, budget.max_sigmoid_error, min_tau, min_tau_strict,
              by_query.size());
  EXPECT_LE(max_error, budget.max_sigmoid_error);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, ReducedPrecisionTest,
                         ::testing::Combine(::testing::Values("tiny", "small", "qwen3-tiny"),
                                            ::testing::Values("float32", "bfloat16", "int8")),
                         [](const auto& param_info) {
                           std::string name = std::get<0>(param_info.param) + "_" + std::get<1>(param_info.param);
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// The int8 arithmetic against a float64 simulation of the same scheme (tests/reference: 8-bit
// weights per output channel, activations per token, round half to even, in front of every
// encoder linear layer), on every ISA: with or without VNNI the engine computes the same integers
// (int8_linear.h). Whatever the scheme's own error against the exact model, the engine must
// reproduce the scheme. The comparison is by RMS: the scheme is chaotic on these models, since a
// float32-sized change of an activation can move it across a quantization step; perturbing the
// simulation's own activations by 6e-8 (relative) moves `small`'s logits by RMS 0.023, max 0.12.
// Measured: RMS 0.004 (tiny) and 0.034 (small) against the right simulation, 0.080 and 0.153
// against the 7-bit one, which the test must tell apart; the scheme itself is RMS 0.032 / 0.075
// from the exact model. A wrong scale, zero point, compensation or weight range fails these limits.
double int8_scheme_rms_limit(const std::string& model) { return model == "tiny" ? 0.02 : 0.07; }

double rms_logit_error(const std::vector<float>& logits, const std::vector<testing::ExpectedPair>& expected,
                       double* max_error) {
  double squares = 0;
  *max_error = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const double error = logits[i] - expected[i].logit;
    *max_error = std::max(*max_error, std::abs(error));
    squares += error * error;
  }
  return std::sqrt(squares / static_cast<double>(expected.size()));
}

class Int8SchemeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(Int8SchemeTest, LogitsMatchTheSimulatedScheme) {
  const std::string& model = GetParam();
  const auto expected = testing::expected_pairs("ranking-" + model + "-int8-w127");
  const auto seven_bit = testing::expected_pairs("ranking-" + model + "-int8-w63");
  ASSERT_GE(expected.size(), 100u);
  ASSERT_EQ(seven_bit.size(), expected.size());
  RerankerOptions options;
  options.model_dir = testing::model_dir(model);
  options.dtype = "int8";
  Reranker reranker(options);

  std::vector<EncodedPair> encoded;
  for (const auto& e : expected) encoded.push_back({e.ids, e.type_ids});
  const auto logits = reranker.logits(encoded);
  ASSERT_EQ(logits.size(), expected.size());
  double max_error = 0, max_seven_bit = 0;
  const double rms = rms_logit_error(logits, expected, &max_error);
  const double rms_seven_bit = rms_logit_error(logits, seven_bit, &max_seven_bit);
  std::printf("[ precision] %s int8 on %s against the simulated scheme: RMS |dlogit| %.2e (limit %.2g), max %.2e; "
              "against the 7-bit scheme RMS %.2e\n",
              model.c_str(), cpu::kernel_isa_name(cpu::kernel_isa()), rms, int8_scheme_rms_limit(model), max_error,
              rms_seven_bit);
  EXPECT_LE(rms, int8_scheme_rms_limit(model));
  EXPECT_GT(rms_seven_bit, int8_scheme_rms_limit(model)) << "the test cannot tell 8-bit from 7-bit weights";
}

INSTANTIATE_TEST_SUITE_P(Models, Int8SchemeTest, ::testing::Values("tiny", "small"));

}  // namespace
}  // namespace rerankd
