// The decoder-LLM rerankers (Qwen3-Reranker, mxbai-rerank-v2, bge-reranker-v2-gemma layouts)
// against the independent float64 reference (tests/reference/decoder_reference.py): the prompt's
// token ids exactly, and the answer-token logit of each pair alone and batched within 1e-4 (see
// tolerance()), with
// custom instructions and at truncating max_lengths.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "engine/reranker.h"
#include "test_data.h"

namespace rerankd {
namespace {

struct PromptCase {
  std::string query, document, instruction;  // instruction "" where the reference had none
  size_t max_length;
  std::vector<int32_t> ids;
  double logit, score;
};

// 1e-4 on logits spread over +-10, as a real reranker's are. The random test models spread theirs
// wider (mxbai-tiny over 35 units, on 2,000-token prompts), and float32's rounding error grows with
// the values rounded: the tolerance grows with the spread past 20 units.
double tolerance(const std::vector<PromptCase>& cases) {
  double lo = 1e30, hi = -1e30;
  for (const PromptCase& c : cases) {
    lo = std::min(lo, c.logit);
    hi = std::max(hi, c.logit);
  }
  return 1e-4 * std::max(1.0, (hi - lo) / 20);
}

std::vector<PromptCase> prompt_cases(const std::string& model) {
  std::vector<PromptCase> out;
  simdjson::dom::parser parser;
  for (const auto& line : testing::read_lines(testing::testdata_dir() / "expected" / (model + ".jsonl"))) {
    auto obj = parser.parse(line).get_object().value();
    std::string_view instruction;
    if (obj["instruction"].get_string().get(instruction) != simdjson::SUCCESS) instruction = {};
    out.push_back({std::string(std::string_view(obj["query"])), std::string(std::string_view(obj["document"])),
                   std::string(instruction), static_cast<size_t>(int64_t(obj["max_length"])),
                   testing::int_array(obj["ids"]), double(obj["logit"]), double(obj["score"])});
  }
  return out;
}

Reranker decoder(const std::string& model, BatchBounds batch = {}) {
  RerankerOptions options;
  options.model_dir = testing::model_dir(model);
  options.dtype = "float32";  // parity is a float32 promise
  batch.max_sequence_length = 1 << 20;  // the cases carry their own max_length
  options.batch = batch;
  return Reranker(options);
}

class DecoderParityTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DecoderParityTest, PromptIdsAndLogitsMatchTheReference) {
  const std::vector<PromptCase> cases = prompt_cases(GetParam());
  ASSERT_GE(cases.size(), 20u);
  Reranker reranker = decoder(GetParam());
  ASSERT_TRUE(reranker.tokenizer().prompt_based());
  std::vector<EncodedPair> encoded;
  size_t truncated = 0, instructed = 0;
  for (const PromptCase& c : cases) {
    encoded.push_back(reranker.tokenizer().encode_prompt(c.instruction, c.query, c.document, c.max_length));
    ASSERT_EQ(encoded.back().ids, c.ids) << "prompt ids differ for '" << c.query << "' / '"
                                         << c.document.substr(0, 40) << "' at max_length " << c.max_length;
    truncated += encoded.back().truncated;
    instructed += !c.instruction.empty();
  }
  EXPECT_GT(truncated, 0u) << "no case truncates: the test would not see a wrong truncation rule";

  double max_alone = 0, max_batched = 0, lo = 1e30, hi = -1e30;
  for (size_t i = 0; i < cases.size(); i += 3) {  // a third alone: each its own pass
    PackedBatch one(reranker.config().position_rule());
    one.add(encoded[i].ids);
    max_alone = std::max(max_alone, std::abs(reranker.model().forward(one).at(0) - cases[i].logit));
  }
  const std::vector<float> batched = reranker.logits(encoded);
  for (size_t i = 0; i < cases.size(); ++i) {
    max_batched = std::max(max_batched, std::abs(batched[i] - cases[i].logit));
    lo = std::min(lo, cases[i].logit);
    hi = std::max(hi, cases[i].logit);
  }
  std::printf("[ parity   ] %s: max |dlogit| alone %.3g, batched %.3g over %zu prompts (%zu truncated, %zu with "
              "an instruction; reference logits %.3f..%.3f)\n",
              GetParam().c_str(), max_alone, max_batched, cases.size(), truncated, instructed, lo, hi);
  EXPECT_LT(max_alone, tolerance(cases));
  EXPECT_LT(max_batched, tolerance(cases));
  EXPECT_GT(hi - lo, 1.0) << "reference logits barely differ: the test would not see errors";
}

TEST_P(DecoderParityTest, SmallBatchBudgetsGiveTheSameScores) {
  const std::vector<PromptCase> cases = prompt_cases(GetParam());
  Reranker reranker = decoder(GetParam(), {.max_tokens = 300, .max_sequences = 3, .max_sequence_length = 0});
  std::vector<EncodedPair> encoded;
  for (const PromptCase& c : cases) encoded.push_back({c.ids, {}, false});
  const std::vector<float> logits = reranker.logits(encoded);
  ASSERT_EQ(logits.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) EXPECT_NEAR(logits[i], cases[i].logit, tolerance(cases)) << i;
}

INSTANTIATE_TEST_SUITE_P(Models, DecoderParityTest,
                         ::testing::Values("qwen3-tiny", "qwen3-tiny-bf16", "qwen3-tiny-untied", "mxbai-tiny",
                                           "mxbai-tiny-bf16", "bge-gemma-tiny", "bge-gemma-tiny-bf16"),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace rerankd
