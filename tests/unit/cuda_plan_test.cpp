// The CUDA backend's pure host logic (kernels/cuda/cuda_plan.h), tested in every build: the length
// buckets of attention, how items are grouped under the scratch, the workspace's size, the
// options and the matmul search's error.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"
#include "kernels/cuda/cuda_plan.h"
#include "test_data.h"

namespace rerankd::cuda {
namespace {

TEST(CudaPlan, KeysArePaddedToBuckets) {
  EXPECT_EQ(padded_keys(1), 64);
  EXPECT_EQ(padded_keys(64), 64);
  EXPECT_EQ(padded_keys(65), 128);
  EXPECT_EQ(padded_keys(256), 256);
  EXPECT_EQ(padded_keys(512), 512);
  EXPECT_EQ(padded_keys(513), 1024);
  EXPECT_EQ(padded_keys(8192), 8192);
  EXPECT_EQ(query_rows(256), 256);
  EXPECT_EQ(query_rows(8192), 512);
  for (int32_t length = 1; length <= 9000; length += 37) {
    const int32_t p = padded_keys(length);
    EXPECT_GE(p, length);
    EXPECT_LT(p - length, kQueryChunk) << "padded keys must stay within the slack rows";
    EXPECT_EQ(p % query_rows(p), 0) << "query chunks tile the padded length";
  }
}

TEST(CudaPlan, ItemScratchRegionsAreAlignedAndDisjoint) {
  const ItemScratch s = item_scratch(320, 320, 64, 2);
  EXPECT_EQ(s.scores, 0);
  EXPECT_GE(s.probabilities, 320 * 320 * 4);
  EXPECT_GE(s.context, s.probabilities + 320 * 320 * 2);
  EXPECT_GE(s.bytes, s.context + 320 * 64 * 2);
  for (int64_t offset : {s.probabilities, s.context, s.bytes}) EXPECT_EQ(offset % kScratchAlign, 0);
}

// Every (sequence, head, query) is covered by exactly one item, items of a group share a bucket,
// and a group fits the scratch.
TEST(CudaPlan, AttentionPlanCoversEveryQueryOnce) {
  const std::vector<int32_t> lengths{3, 64, 65, 200, 512, 513, 1500, 7, 64};
  std::vector<int32_t> starts{0};
  for (int32_t l : lengths) starts.push_back(starts.back() + l);
  const int64_t heads = 4, head_dim = 16, scratch = int64_t{8} << 20;
  const AttentionPlan plan = plan_attention(starts, heads, head_dim, 2, scratch);
  std::set<std::tuple<int32_t, int32_t, int32_t>> covered;  // (seq_start, head, query)
  for (const AttentionGroup& g : plan.groups) {
    EXPECT_GT(g.count, 0);
    EXPECT_LE(g.count * g.scratch.bytes, scratch);
    EXPECT_EQ(g.queries, query_rows(g.keys));
    for (int64_t i = g.first; i < g.first + g.count; ++i) {
      const AttentionItem& item = plan.items[static_cast<size_t>(i)];
      EXPECT_EQ(padded_keys(item.length), g.keys);
      EXPECT_EQ(item.query0 % g.queries, 0);
      EXPECT_LE(item.query0 + g.queries, g.keys) << "a chunk's queries stay inside the padded length";
      for (int32_t q = item.query0; q < std::min(item.length, item.query0 + g.queries); ++q) {
        EXPECT_TRUE(covered.insert({item.seq_start, item.head, q}).second);
      }
    }
  }
  size_t expected = 0;
  for (int32_t l : lengths) expected += static_cast<size_t>(l) * heads;
  EXPECT_EQ(covered.size(), expected);
  EXPECT_EQ(plan.longest_padded, 1536);
}

TEST(CudaPlan, SmallScratchSplitsABucketIntoGroups) {
  std::vector<int32_t> starts{0};
  for (int i = 0; i < 10; ++i) starts.push_back(starts.back() + 256);
  const int64_t item = item_scratch(256, 256, 64, 2).bytes;
  const AttentionPlan plan = plan_attention(starts, 16, 64, 2, item * 50);
  ASSERT_EQ(plan.items.size(), 160u);
  ASSERT_EQ(plan.groups.size(), 4u);  // 50 + 50 + 50 + 10
  EXPECT_EQ(plan.groups.back().count, 10);
  EXPECT_THROW(plan_attention(starts, 16, 64, 2, item - 1), Error);
}

TEST(CudaPlan, WorkspaceForBgeM3At16kTokens) {
  const ModelDims bge{1024, 4096, 16, 1};
  const WorkspacePlan p = plan_workspace(bge, {16384, 1024, 8192}, CudaPrecision::kFloat16);
  EXPECT_EQ(p.max_tokens, 16384);
  EXPECT_EQ(p.max_sequences, 1024);
  EXPECT_EQ(p.token_rows, 16384 + kQueryChunk);
  // hidden: float32 + float16; qkv + context, and the intermediate over them: float16 only; per
  // token 1024*(4+2) + max(3072 + 1024, 4096)*2 bytes.
  const int64_t per_token = 1024 * 6 + 4096 * 2;
  EXPECT_GE(p.activation_bytes, p.token_rows * per_token);
  EXPECT_LT(p.activation_bytes, p.token_rows * per_token + (int64_t{20} << 20));  // + the per-pair matrices
  EXPECT_EQ(p.attention_scratch_bytes, int64_t{64} << 20);
  EXPECT_GE(p.attention_scratch_bytes, item_scratch(8192, 512, 64, 2).bytes);
  // Activations, scratch and cuBLAS's workspace of a 16k-token budget stay under 0.4 GB (the
  // float16 weights, 1.16 GB, come on top).
  EXPECT_LT(p.total_bytes, int64_t{400} << 20);
  // Items: 16 heads x (pairs + chunks past 512 tokens).
  EXPECT_EQ(p.max_items, 16 * (1024 + 32));
  // float32 keeps one copy of each matrix, 4 bytes wide.
  const WorkspacePlan f = plan_workspace(bge, {16384, 1024, 8192}, CudaPrecision::kFloat32);
  EXPECT_GT(f.activation_bytes, p.activation_bytes);
  EXPECT_THROW(plan_workspace(bge, {0, 1, 1}, CudaPrecision::kFloat16), Error);
}

// The whole plan, weights and workspace, against tests/reference/cuda_memory.py's count from the
// checkpoint's tensor list; and the float16 total within the 1.5 GiB target (the CUDA context and
// cuBLAS's own memory come on top).
TEST(CudaPlan, PlannedMemoryOfBgeRerankerV2M3At16kTokens) {
  simdjson::dom::parser parser;
  const simdjson::padded_string text =
      simdjson::padded_string::load((rerankd::testing::testdata_dir() / "expected" / "cuda-memory.json").string());
  const simdjson::dom::element expected = parser.parse(text);
  const WeightDims bge{.hidden = 1024, .intermediate = 4096, .layers = 24, .labels = 1, .vocab = 250002,
                       .positions = 8194, .token_types = 1};
  const BatchBounds limits{static_cast<int64_t>(expected["tokens"].get_int64()),
                                static_cast<int64_t>(expected["pairs"].get_int64()),
                                static_cast<int64_t>(expected["max_length"].get_int64())};
  for (const auto& [name, precision] :
       {std::pair{"float16", CudaPrecision::kFloat16}, std::pair{"float32", CudaPrecision::kFloat32}}) {
    const MemoryPlan m = plan_memory(bge, 16, limits, precision);
    EXPECT_EQ(m.weight_bytes, expected[name]["weight_bytes"].get_int64().value()) << name;
    EXPECT_EQ(m.workspace_bytes, expected[name]["workspace_bytes"].get_int64().value()) << name;
    EXPECT_EQ(m.total_bytes, m.weight_bytes + m.workspace_bytes);
  }
  EXPECT_LE(plan_memory(bge, 16, limits, CudaPrecision::kFloat16).total_bytes, int64_t{3} << 29);  // 1.5 GiB
  // bfloat16 has float16's element size: the same plan.
  EXPECT_EQ(plan_memory(bge, 16, limits, CudaPrecision::kBFloat16).total_bytes,
            plan_memory(bge, 16, limits, CudaPrecision::kFloat16).total_bytes);
}

// A Qwen3-0.6B-shaped decoder (hidden 1024, 16 query and 8 key/value heads of 128, intermediate
// 3072): q is wider than hidden, qkv is (16 + 2 * 8) * 128 wide, and the FFN pair (gate_up and the
// gated output) outweighs qkv + context, so it is what the plan holds; no attention scratch.
TEST(CudaPlan, WorkspaceForAQwen3ShapedDecoder) {
  const ModelDims qwen{.hidden = 1024, .intermediate = 3072, .heads = 16, .labels = 1, .kv_heads = 8, .head_dim = 128};
  const BatchBounds limits{.max_tokens = 8192, .max_sequences = 64, .max_sequence_length = 4096};
  const CudaPrecision f16 = CudaPrecision::kFloat16;
  const WorkspacePlan p = plan_workspace(qwen, limits, f16);
  const int64_t T = p.token_rows, S = p.sequence_rows;
  EXPECT_EQ(T, 8192 + kQueryChunk);
  const int64_t attention =
      matrix_bytes(T, 32 * 128, Role::kNarrowOnly, f16) + matrix_bytes(T, 16 * 128, Role::kNarrowOnly, f16);
  const int64_t ffn = matrix_bytes(T, 2 * 3072, Role::kNarrowOnly, f16) + matrix_bytes(T, 3072, Role::kNarrowOnly, f16);
  EXPECT_GT(ffn, attention);
  EXPECT_EQ(p.activation_bytes, matrix_bytes(T, 1024, Role::kGeneral, f16) +
                                    matrix_bytes(T, 1024, Role::kNarrowOnly, f16) + ffn +
                                    2 * matrix_bytes(S, 1024, Role::kGeneral, f16) +
                                    matrix_bytes(S, 1, Role::kGeneral, f16));
  EXPECT_EQ(p.attention_scratch_bytes, 0);
  EXPECT_EQ(p.max_items, 0);
  EXPECT_EQ(p.total_bytes, p.activation_bytes + kCublasWorkspaceBytes +
                               kPassSlots * (p.pass_input_bytes + p.slot_logits_bytes));
  // Query heads that are no multiple of the key/value heads are a shape no decoder has.
  EXPECT_THROW(plan_workspace({.hidden = 1024, .intermediate = 3072, .heads = 16, .labels = 1, .kv_heads = 6,
                               .head_dim = 128},
                              limits, f16),
               Error);
  // Its weights: the matrices in float16, no biases, float32 norms and head.
  const WeightDims w{.hidden = 1024, .intermediate = 3072, .layers = 28, .labels = 1, .vocab = 151669,
                     .positions = 0, .token_types = 0, .heads = 16, .kv_heads = 8, .head_dim = 128};
  const int64_t layer = (4096 * 1024 + 1024 * 2048 + 2 * 3072 * 1024 + 1024 * 3072) * 2 + (2 * 1024 + 2 * 128) * 4;
  EXPECT_EQ(planned_weight_bytes(w, f16), 151669 * 1024 * 2 + 28 * layer + 1024 * 4 + (1024 + 1) * 4);
  EXPECT_EQ(plan_memory(w, 16, limits, f16).workspace_bytes, p.total_bytes);
}

// inv_freq as Hugging Face computes it: 1 / theta^(float(2i) / float(d)), in float32.
TEST(CudaPlan, RotaryFrequenciesFollowHuggingFace) {
  for (const auto& [dim, theta] : {std::pair<int64_t, double>{128, 1e6}, {64, 1e4}, {256, 1e4}}) {
    const RotaryFrequencies f = rotary_frequencies(dim, theta);
    EXPECT_EQ(f.inv_freq[0], 1.f);
    for (int64_t i = 0; i < dim / 2; ++i) {
      const double want = std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(dim));
      EXPECT_NEAR(f.inv_freq[i], want, want * 1e-6) << dim << " " << i;
      if (i > 0) {
        EXPECT_LT(f.inv_freq[i], f.inv_freq[i - 1]);
      }
    }
    for (int64_t i = dim / 2; i < kMaxHeadDim / 2; ++i) EXPECT_EQ(f.inv_freq[i], 0.f);
  }
  EXPECT_THROW(rotary_frequencies(63, 1e4), Error);
  EXPECT_THROW(rotary_frequencies(kMaxHeadDim + 2, 1e4), Error);
  EXPECT_THROW(rotary_frequencies(0, 1e4), Error);
  EXPECT_THROW(rotary_frequencies(128, 0), Error);
}

TEST(CudaPlan, MatrixFormsFollowRoleAndPrecision) {
  EXPECT_TRUE(matrix_forms(Role::kGeneral, CudaPrecision::kFloat16).f32);
  EXPECT_FALSE(matrix_forms(Role::kNarrowOnly, CudaPrecision::kBFloat16).f32);
  EXPECT_FALSE(matrix_forms(Role::kGeneral, CudaPrecision::kFloat32).f32);  // the one copy is float32
  EXPECT_EQ(matrix_bytes(10, 100, Role::kNarrowOnly, CudaPrecision::kFloat16), align_up(2000, kScratchAlign));
  EXPECT_EQ(matrix_bytes(10, 100, Role::kGeneral, CudaPrecision::kFloat16),
            align_up(4000, kScratchAlign) + align_up(2000, kScratchAlign));
  EXPECT_EQ(allocated_rows(100), 100 + kQueryChunk);
}

TEST(CudaPlan, PassInputLayoutIsAlignedAndOrdered) {
  const PassInputLayout l = pass_input_layout(1000, 10, 40);
  EXPECT_EQ(l.ids, 0);
  EXPECT_GE(l.positions, 4000);
  EXPECT_GE(l.types, l.positions + 4000);
  EXPECT_GE(l.seq_starts, l.types + 4000);
  EXPECT_GE(l.items, l.seq_starts + 44);
  EXPECT_GE(l.pointers, l.items + 40 * static_cast<int64_t>(sizeof(AttentionItem)));
  EXPECT_GE(l.bytes, l.pointers + 40 * kPointerArrays * 8);
  for (int64_t offset : {l.positions, l.types, l.seq_starts, l.items, l.pointers, l.bytes}) {
    EXPECT_EQ(offset % kScratchAlign, 0);
  }
}

// The factory hands the backend what the environment says; only "0" turns the overlap off and
// only "1" the exact GELU on.
TEST(CudaPlan, OptionsFromTheEnvironmentsValues) {
  EXPECT_TRUE(cuda_options(nullptr, nullptr).overlap);
  EXPECT_FALSE(cuda_options(nullptr, nullptr).exact_gelu);
  EXPECT_FALSE(cuda_options("0", nullptr).overlap);
  EXPECT_TRUE(cuda_options("1", nullptr).overlap);
  EXPECT_TRUE(cuda_options("", nullptr).overlap);
  EXPECT_TRUE(cuda_options(nullptr, "1").exact_gelu);
  EXPECT_FALSE(cuda_options(nullptr, "0").exact_gelu);
  EXPECT_FALSE(cuda_options(nullptr, "yes").exact_gelu);
}

// Both attempts' statuses are in the error, so a layout mistake (INVALID_VALUE) is told apart
// from a shape no kernel covers.
TEST(CudaPlan, NoAlgorithmMessageNamesEachAttemptsStatus) {
  const std::vector<HeuristicAttempt> attempts{{"bias + GELU", "CUBLAS_STATUS_INVALID_VALUE", 0},
                                               {"none", "CUBLAS_STATUS_SUCCESS", 0}};
  const std::string m = no_algorithm_message(7, 1024, 4096, "float16", "float16", attempts);
  EXPECT_NE(m.find("7 x 1024 x 4096"), std::string::npos) << m;
  EXPECT_NE(m.find("float16 in, float16 out"), std::string::npos) << m;
  EXPECT_NE(m.find("epilogue bias + GELU: CUBLAS_STATUS_INVALID_VALUE"), std::string::npos) << m;
  EXPECT_NE(m.find("epilogue none: CUBLAS_STATUS_SUCCESS with 0 algorithms"), std::string::npos) << m;
}

}  // namespace
}  // namespace rerankd::cuda
