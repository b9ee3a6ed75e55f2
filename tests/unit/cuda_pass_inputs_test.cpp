// A pass's inputs as the CUDA backend packs them on the host (kernels/cuda/cuda_pass_inputs.h),
// tested in every build: the position ids and token types the embedding kernel reads, the bounds
// it relies on, and the pass slots' bookkeeping (an abandoned pass is waited for before its slot
// is reused).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "common/error.h"
#include "kernels/cuda/cuda_pass_inputs.h"

namespace rerankd::cuda {
namespace {

struct Packed {
  PackedPass pass;
  PassInputLayout layout;
  std::vector<char> host;

  std::vector<int32_t> ints(int64_t offset, int64_t count) const {
    std::vector<int32_t> v(static_cast<size_t>(count));
    std::memcpy(v.data(), host.data() + offset, v.size() * sizeof(int32_t));
    return v;
  }
};

Packed pack(const PackedBatch& batch, const TableBounds& tables) {
  const WorkspacePlan plan = plan_workspace({.hidden = 8, .intermediate = 16, .heads = 2, .labels = 1},
                                            {.max_tokens = 64, .max_sequences = 4, .max_sequence_length = 32},
                                            CudaPrecision::kFloat16);
  Packed p;
  p.layout = pass_input_layout(plan.token_rows, plan.sequence_rows, plan.max_items);
  p.host.assign(static_cast<size_t>(p.layout.bytes), 0);
  p.pass = pack_pass(batch, tables, plan, p.layout, {.heads = 2, .head_dim = 4, .element_bytes = 2}, p.host.data());
  return p;
}

constexpr TableBounds kRoberta{.vocab = 100, .positions = 40, .types = 1};
constexpr TableBounds kBert{.vocab = 200, .positions = 40, .types = 2};
constexpr PositionRule kRobertaPositions{.first = 2, .pad_id = 1};

TEST(CudaPassInputs, PacksTheBatchsIdsPositionsAndBounds) {
  PackedBatch batch(kRobertaPositions);
  batch.add(std::vector<int32_t>{0, 5, 2});
  batch.add(std::vector<int32_t>{0, 7, 1, 8, 2});  // a <pad> written in a text keeps pad_token_id
  const Packed p = pack(batch, kRoberta);
  EXPECT_EQ(p.pass.tokens, 8);
  EXPECT_EQ(p.pass.sequences, 2);
  EXPECT_EQ(p.ints(p.layout.ids, 8), (std::vector<int32_t>{0, 5, 2, 0, 7, 1, 8, 2}));
  EXPECT_EQ(p.ints(p.layout.positions, 8), (std::vector<int32_t>{2, 3, 4, 2, 3, 1, 4, 5}));
  EXPECT_EQ(p.ints(p.layout.types, 8), (std::vector<int32_t>(8, 0)));
  EXPECT_EQ(p.ints(p.layout.seq_starts, 3), (std::vector<int32_t>{0, 3, 8}));
  // One item per sequence and head; each region to upload covers what was written.
  EXPECT_EQ(p.pass.attention.items.size(), 4u);
  EXPECT_EQ(p.pass.regions[0].offset, p.layout.ids);
  EXPECT_EQ(p.pass.regions[0].bytes, 8 * 4);
  EXPECT_EQ(p.pass.regions[3].bytes, 3 * 4);
  EXPECT_EQ(p.pass.regions[4].offset, p.layout.items);
  EXPECT_EQ(p.pass.regions[4].bytes, 4 * static_cast<int64_t>(sizeof(AttentionItem)));
}

// A decoder's pass (heads 0): no attention items (causal_attention reads seq_starts alone), the
// longest sequence for its grid, and positions counted from 0 with no table to bound them.
TEST(CudaPassInputs, ADecodersPassHasNoItemsAndItsLongestSequence) {
  const WorkspacePlan plan =
      plan_workspace({.hidden = 8, .intermediate = 16, .heads = 4, .labels = 1, .kv_heads = 2, .head_dim = 4},
                     {.max_tokens = 64, .max_sequences = 4, .max_sequence_length = 32}, CudaPrecision::kFloat16);
  EXPECT_EQ(plan.max_items, 0);
  PackedBatch batch;
  batch.add(std::vector<int32_t>{3, 4, 5});
  batch.add(std::vector<int32_t>{6, 7, 8, 9, 10});
  batch.add(std::vector<int32_t>{11});
  const PassInputLayout layout = pass_input_layout(plan.token_rows, plan.sequence_rows, plan.max_items);
  std::vector<char> host(static_cast<size_t>(layout.bytes));
  const PackedPass pass = pack_pass(batch, {.vocab = 100, .positions = int64_t{1} << 31, .types = 1}, plan, layout,
                                    {.heads = 0, .head_dim = 4, .element_bytes = 2}, host.data());
  EXPECT_EQ(pass.longest, 5);
  EXPECT_TRUE(pass.attention.items.empty());
  EXPECT_EQ(pass.regions[4].bytes, 0);
  std::vector<int32_t> positions(9);
  std::memcpy(positions.data(), host.data() + layout.positions, positions.size() * sizeof(int32_t));
  EXPECT_EQ(positions, (std::vector<int32_t>{0, 1, 2, 0, 1, 2, 3, 4, 0}));
}

TEST(CudaPassInputs, PacksTheBatchsTokenTypes) {
  PackedBatch batch;
  batch.add(std::vector<int32_t>{101, 7, 102, 9, 102}, std::vector<int32_t>{0, 0, 0, 1, 1});
  batch.add(std::vector<int32_t>{101, 0, 102}, std::vector<int32_t>{0, 0, 1});
  const Packed p = pack(batch, kBert);
  EXPECT_EQ(p.ints(p.layout.positions, 8), (std::vector<int32_t>{0, 1, 2, 3, 4, 0, 1, 2}));
  EXPECT_EQ(p.ints(p.layout.types, 8), (std::vector<int32_t>{0, 0, 0, 1, 1, 0, 0, 1}));
}

TEST(CudaPassInputs, RefusesWhatTheTablesOrTheWorkspaceCannotHold) {
  auto kind = [](const PackedBatch& batch, const TableBounds& tables) {
    try {
      pack(batch, tables);
    } catch (const Error& e) {
      return e.kind();
    }
    ADD_FAILURE() << "no Error thrown";
    return Error::Kind::kInternal;
  };
  PackedBatch id_past_vocab(kRobertaPositions);
  id_past_vocab.add(std::vector<int32_t>{0, 100, 2});
  EXPECT_EQ(kind(id_past_vocab, kRoberta), Error::Kind::kInternal);
  PackedBatch type_past_table;
  type_past_table.add(std::vector<int32_t>{101, 102}, std::vector<int32_t>{0, 2});
  EXPECT_EQ(kind(type_past_table, kBert), Error::Kind::kInternal);
  PackedBatch too_long(kRobertaPositions);  // positions 2..41 on a 40-row table
  too_long.add(std::vector<int32_t>(40, 5));
  EXPECT_EQ(kind(too_long, kRoberta), Error::Kind::kInternal);
  PackedBatch too_many(kRobertaPositions);  // 5 pairs where the plan holds 4
  for (int i = 0; i < 5; ++i) too_many.add(std::vector<int32_t>{0, 2});
  EXPECT_EQ(kind(too_many, kRoberta), Error::Kind::kInvalidInput);
}

TEST(CudaPassSlots, PassesTakeTheSlotsInTurn) {
  PassSlots slots(2);
  EXPECT_EQ(slots.begin().slot, 0);
  EXPECT_TRUE(slots.open(0));
  EXPECT_EQ(slots.read(), 0);
  EXPECT_FALSE(slots.open(0));
  EXPECT_TRUE(slots.read_pending(0));
  const PassSlots::Begun second = slots.begin();
  EXPECT_EQ(second.slot, 1);
  EXPECT_EQ(second.abandoned, -1);
  EXPECT_EQ(slots.read(), 1);
  // A third pass while both reads are outstanding is refused, and allowed once one is collected.
  EXPECT_THROW(slots.begin(), Error);
  slots.collected(0);
  EXPECT_EQ(slots.begin().slot, 0);
}

// A pass that threw after its batch was set never reached its read: the next pass reports its slot
// so that the backend records the slot's `done` after the abandoned pass's work.
TEST(CudaPassSlots, AnAbandonedPassIsReportedOnce) {
  PassSlots slots(2);
  slots.begin();  // slot 0, abandoned
  const PassSlots::Begun next = slots.begin();
  EXPECT_EQ(next.slot, 1);
  EXPECT_EQ(next.abandoned, 0);
  EXPECT_FALSE(slots.open(0));
  EXPECT_FALSE(slots.read_pending(0));
  EXPECT_EQ(slots.read(), 1);
  slots.collected(1);
  const PassSlots::Begun after = slots.begin();
  EXPECT_EQ(after.slot, 0);
  EXPECT_EQ(after.abandoned, -1);
}

TEST(CudaPassSlots, AReadNeedsAnOpenPass) {
  PassSlots slots(2);
  EXPECT_THROW(slots.read(), Error);  // before any batch
  slots.begin();
  slots.read();
  EXPECT_THROW(slots.read(), Error);  // a second read of one pass
  EXPECT_THROW(PassSlots(0), Error);
}

}  // namespace
}  // namespace rerankd::cuda
