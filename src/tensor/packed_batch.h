#pragma once
// A forward pass's input: sequences concatenated without padding, with each token's position and
// token type computed once here on the host, so no backend re-derives a model family's position
// rule (RoBERTa's pad-aware count, BERT's and the decoders' plain count).
#include <cstdint>
#include <span>
#include <vector>

namespace rerankd {

// How a model numbers the tokens of a sequence: from `first`, each token one more than the last;
// with pad_id >= 0 (RoBERTa), a <pad> token written in a text sits at pad_id and is not counted,
// as Hugging Face's create_position_ids_from_input_ids does.
struct PositionRule {
  int32_t first = 0;
  int32_t pad_id = -1;
};

// Tokens [seq_starts[i], seq_starts[i+1]) form sequence i.
struct PackedBatch {
  PositionRule rule;
  std::vector<int32_t> ids;
  std::vector<int32_t> positions;  // one per id
  std::vector<int32_t> seq_starts{0};
  // Token type (segment) of each id; empty means every token is of type 0, as in XLM-R.
  std::vector<int32_t> type_ids;

  PackedBatch() = default;
  explicit PackedBatch(PositionRule position_rule) : rule(position_rule) {}

  size_t num_sequences() const { return seq_starts.size() - 1; }
  size_t num_tokens() const { return ids.size(); }
  int32_t length(size_t sequence) const { return seq_starts[sequence + 1] - seq_starts[sequence]; }

  // `types` empty: all of type 0.
  void add(std::span<const int32_t> sequence, std::span<const int32_t> types = {}) {
    if (!types.empty() && type_ids.empty()) type_ids.assign(ids.size(), 0);
    int32_t next = rule.first;
    for (const int32_t id : sequence) positions.push_back(id == rule.pad_id ? rule.pad_id : next++);
    ids.insert(ids.end(), sequence.begin(), sequence.end());
    if (!types.empty()) type_ids.insert(type_ids.end(), types.begin(), types.end());
    else if (!type_ids.empty()) type_ids.resize(ids.size(), 0);
    seq_starts.push_back(static_cast<int32_t>(ids.size()));
  }
};

}  // namespace rerankd
