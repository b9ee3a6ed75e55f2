// Two passes in flight on the device (the backend worker's overlap) and the memory plan against
// what the backend allocates. Skipped without a device.
#include <cstdlib>
#include <regex>

#include "common/error.h"
#include "cuda_test_util.h"
#include "engine/backend_worker.h"
#include "engine/reranker.h"
#include "kernels/backend_factory.h"
#include "model/config.h"
#include "model/cross_encoder.h"
#include "test_data.h"

namespace rerankd {
namespace {

class CudaOverlapTest : public cuda::testing::CudaTest {};

std::unique_ptr<Reranker> on_cuda(const std::string& model, const std::string& dtype) {
  RerankerOptions options;
  options.model_dir = testing::model_dir(model);
  options.device = "cuda";
  options.dtype = dtype;
  options.batch.max_tokens = 400;
  options.batch.max_sequences = 8;
  return std::make_unique<Reranker>(options);
}

// Passes of 3 pairs, the next begun before the last is collected: the float64 reference's logits.
TEST_F(CudaOverlapTest, PassesInFlightTogetherGiveTheReferenceScores) {
  const auto expected = testing::expected_pairs("small");
  auto reranker = on_cuda("small", "float32");
  ASSERT_EQ(reranker->pass_slots(), 2);
  ModelPassRunner runner(reranker->model(), reranker->pass_slots());
  std::vector<size_t> first_of;  // each pass's first pair
  std::vector<float> logits;
  auto collect = [&] {
    for (const float l : runner.finish()) logits.push_back(l);
  };
  for (size_t at = 0; at < expected.size(); at += 3) {
    PackedBatch batch(reranker->config().position_rule());
    for (size_t i = at; i < std::min(at + 3, expected.size()); ++i) batch.add(expected[i].ids, expected[i].type_ids);
    runner.begin(batch);
    first_of.push_back(at);
    if (first_of.size() > 1) collect();  // the pass before this one
  }
  collect();
  ASSERT_EQ(logits.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(logits[i], expected[i].logit, 1e-4) << i;
}

TEST_F(CudaOverlapTest, AThirdPassInFlightIsRefused) {
  const auto expected = testing::expected_pairs("tiny");
  auto reranker = on_cuda("tiny", "float16");
  PackedBatch one(reranker->config().position_rule());
  one.add(expected[0].ids, expected[0].type_ids);
  auto a = reranker->model().begin_forward(one);
  auto b = reranker->model().begin_forward(one);
  EXPECT_THROW(reranker->model().begin_forward(one), Error);
  EXPECT_EQ(a->wait(), b->wait());
}

// A pass abandoned after its batch was set (as when an op throws) is closed by the next pass, which
// records its slot's `done` event; the passes after it, two in flight at a time, score as the
// reference says.
TEST_F(CudaOverlapTest, PassesAfterAnAbandonedOneGiveTheReferenceScores) {
  const auto expected = testing::expected_pairs("tiny");
  const std::filesystem::path dir = testing::model_dir("tiny");
  MadeBackend made = make_backend({.device = "cuda", .dtype = "float32"});
  auto model = load_cross_encoder(dir, load_model_config(dir / "config.json"), *made.backend,
                                  {.max_tokens = 1024, .max_sequences = 8, .max_sequence_length = 512});
  auto pass = [&](size_t i) {
    PackedBatch batch(model->config().position_rule());
    batch.add(expected[i].ids, expected[i].type_ids);
    return batch;
  };
  made.backend->set_batch(pass(0));  // abandoned: never read
  auto first = model->begin_forward(pass(1));
  auto second = model->begin_forward(pass(2));  // in the abandoned pass's slot
  EXPECT_NEAR(first->wait().at(0), expected[1].logit, 1e-4);
  made.backend->set_batch(pass(0));  // abandoned with a pass in flight
  EXPECT_NEAR(second->wait().at(0), expected[2].logit, 1e-4);
  for (size_t i = 3; i < 6; ++i) EXPECT_NEAR(model->forward(pass(i)).at(0), expected[i].logit, 1e-4) << i;
}

TEST_F(CudaOverlapTest, OverlapOffIsOnePassAtATime) {
  ::setenv("RERANKD_CUDA_OVERLAP", "0", 1);
  auto reranker = on_cuda("tiny", "float16");
  ::unsetenv("RERANKD_CUDA_OVERLAP");
  EXPECT_EQ(reranker->pass_slots(), 1);
  EXPECT_NE(reranker->backend_description().find("one pass at a time"), std::string::npos);
}

// The weights and workspace the backend allocated are what plan_memory planned: the intermediate
// went over qkv + context, and no matrix fell outside the workspace.
TEST_F(CudaOverlapTest, AllocatesWhatItPlanned) {
  for (const char* dtype : {"float16", "float32"}) {
    auto reranker = on_cuda("small", dtype);
    const std::string d = reranker->backend_description();
    std::printf("[ cuda     ] %s: %s\n", dtype, d.c_str());
    std::smatch m;
    ASSERT_TRUE(std::regex_search(d, m, std::regex(R"(weights (\d+) MiB, workspace (\d+) MiB .*\(planned \d+ MiB: weights (\d+) MiB \+ workspace (\d+) MiB\))")))
        << d;
    EXPECT_EQ(m[1], m[3]) << dtype << ": weights";
    EXPECT_EQ(m[2], m[4]) << dtype << ": workspace";
  }
}

}  // namespace
}  // namespace rerankd
