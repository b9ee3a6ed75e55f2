// Position ids are computed once, when a sequence joins the batch, by the model's rule.
#include "tensor/packed_batch.h"

#include <gtest/gtest.h>

#include <vector>

namespace rerankd {
namespace {

TEST(PackedBatch, RobertaPositionsCountFromPastThePadIdAndSkipWrittenPads) {
  // XLM-R: pad id 1, positions from 2; a <pad> written in a text sits at 1 and is not counted
  // (Hugging Face's create_position_ids_from_input_ids).
  PackedBatch batch(PositionRule{.first = 2, .pad_id = 1});
  batch.add(std::vector<int32_t>{0, 5, 2});
  batch.add(std::vector<int32_t>{0, 7, 1, 8, 2});
  EXPECT_EQ(batch.positions, (std::vector<int32_t>{2, 3, 4, 2, 3, 1, 4, 5}));
  EXPECT_EQ(batch.seq_starts, (std::vector<int32_t>{0, 3, 8}));
  EXPECT_EQ(batch.length(1), 5);
  EXPECT_TRUE(batch.type_ids.empty());
}

TEST(PackedBatch, PlainRuleCountsEveryTokenFromZeroAndKeepsTokenTypes) {
  PackedBatch batch;  // BERT and the decoders
  batch.add(std::vector<int32_t>{101, 7, 102, 9, 102}, std::vector<int32_t>{0, 0, 0, 1, 1});
  batch.add(std::vector<int32_t>{101, 0, 102});
  EXPECT_EQ(batch.positions, (std::vector<int32_t>{0, 1, 2, 3, 4, 0, 1, 2}));
  EXPECT_EQ(batch.type_ids, (std::vector<int32_t>{0, 0, 0, 1, 1, 0, 0, 0}));
}

}  // namespace
}  // namespace rerankd
