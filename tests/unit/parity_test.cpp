// Logits of every test model (XLM-R and BERT) against the independent float64 reference: each pair
// alone and all pairs batched together must agree within 1e-4, with the reference's own token ids
// and token types, on ordinary texts and on texts with special tokens written in them.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/reranker.h"
#include "test_data.h"

namespace rerankd {
namespace {

constexpr double kTolerance = 1e-4;

// The parameter names an expected/*.jsonl: a model's own, or special-<model> (pairs whose texts
// contain special tokens).
class ParityTest : public ::testing::TestWithParam<std::string> {};

std::string model_of(const std::string& expected) {
  return expected.starts_with("special-") ? expected.substr(8) : expected;
}

TEST_P(ParityTest, LogitsMatchReferenceAloneAndBatched) {
  const auto expected = testing::expected_pairs(GetParam());
  ASSERT_GE(expected.size(), 5u);
  RerankerOptions options;
  options.model_dir = testing::model_dir(model_of(GetParam()));
  options.dtype = "float32";  // parity is a float32 promise; auto may pick bf16
  Reranker reranker(options);

  std::vector<EncodedPair> encoded;
  for (const auto& e : expected) {
    encoded.push_back(reranker.tokenizer().encode_pair(e.query, e.document, e.max_length));
    ASSERT_EQ(encoded.back().ids, e.ids) << "tokenization differs for '" << e.query << "' / '" << e.document << "'";
    ASSERT_EQ(encoded.back().type_ids, e.type_ids) << "token types differ for query '" << e.query << "'";
  }

  double max_alone = 0, max_batched = 0, spread_lo = 1e30, spread_hi = -1e30;
  for (size_t i = 0; i < expected.size(); ++i) {
    PackedBatch one(reranker.config().position_rule());
    one.add(expected[i].ids, expected[i].type_ids);
    const double logit = reranker.model().forward(one).at(0);
    max_alone = std::max(max_alone, std::abs(logit - expected[i].logit));
    spread_lo = std::min(spread_lo, expected[i].logit);
    spread_hi = std::max(spread_hi, expected[i].logit);
  }
  const auto batched = reranker.logits(encoded);  // one forward pass over every pair
  for (size_t i = 0; i < expected.size(); ++i) {
    max_batched = std::max(max_batched, std::abs(batched[i] - expected[i].logit));
  }
  std::printf("[ parity   ] %s: max |dlogit| alone %.3g, batched %.3g over %zu pairs (reference logits %.3f..%.3f)\n",
              GetParam().c_str(), max_alone, max_batched, expected.size(), spread_lo, spread_hi);
  EXPECT_LT(max_alone, kTolerance);
  EXPECT_LT(max_batched, kTolerance);
  EXPECT_GT(spread_hi - spread_lo, 0.5) << "reference logits barely differ: the test would not see errors";
}

TEST_P(ParityTest, SmallBatchBudgetsGiveTheSameScores) {
  const auto expected = testing::expected_pairs(GetParam());
  ASSERT_GE(expected.size(), 5u);
  RerankerOptions options;
  options.model_dir = testing::model_dir(model_of(GetParam()));
  options.dtype = "float32";  // parity is a float32 promise; auto may pick bf16
  options.batch.max_tokens = 200;
  options.batch.max_sequences = 3;
  Reranker reranker(options);
  std::vector<EncodedPair> encoded;
  for (const auto& e : expected) encoded.push_back({e.ids, e.type_ids});
  const auto logits = reranker.logits(encoded);
  ASSERT_EQ(logits.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(logits[i], expected[i].logit, kTolerance) << i;
}

INSTANTIATE_TEST_SUITE_P(Models, ParityTest,
                         ::testing::Values("tiny", "tiny-f16", "tiny-bf16", "small", "bert-tiny", "bert-cased",
                                           "tiny-i64", "bert-tiny-i64", "special-tiny", "special-small", "special-bert-tiny", "special-bert-cased"),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace rerankd
