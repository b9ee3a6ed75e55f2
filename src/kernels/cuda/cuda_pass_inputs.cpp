#include "kernels/cuda/cuda_pass_inputs.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "common/error.h"

namespace rerankd::cuda {

PackedPass pack_pass(const PackedBatch& batch, const TableBounds& tables, const WorkspacePlan& plan,
                     const PassInputLayout& layout, const PassShape& shape, char* host) {
  PackedPass pass;
  pass.tokens = static_cast<int64_t>(batch.num_tokens());
  pass.sequences = static_cast<int64_t>(batch.num_sequences());
  const int64_t tokens = pass.tokens, sequences = pass.sequences;
  if (tokens > plan.max_tokens || sequences > plan.max_sequences) {
    throw Error(Error::Kind::kInvalidInput, "a pass of " + std::to_string(tokens) + " tokens in " +
                                                std::to_string(sequences) + " pairs exceeds the CUDA workspace (" +
                                                std::to_string(plan.max_tokens) + " tokens, " +
                                                std::to_string(plan.max_sequences) + " pairs: --max-batch-tokens, "
                                                "--max-batch-pairs)");
  }
  const bool typed = !batch.type_ids.empty();
  if (typed && batch.type_ids.size() != batch.ids.size()) {
    throw Error(Error::Kind::kInternal, "pack_pass: type ids and ids differ in number");
  }
  std::memcpy(host + layout.ids, batch.ids.data(), static_cast<size_t>(tokens) * sizeof(int32_t));
  std::memcpy(host + layout.seq_starts, batch.seq_starts.data(), static_cast<size_t>(sequences + 1) * sizeof(int32_t));
  auto* positions = reinterpret_cast<int32_t*>(host + layout.positions);
  if (batch.positions.size() != batch.ids.size()) {
    throw Error(Error::Kind::kInternal, "pack_pass: positions and ids differ in number");
  }
  std::memcpy(positions, batch.positions.data(), static_cast<size_t>(tokens) * sizeof(int32_t));
  auto* types = reinterpret_cast<int32_t*>(host + layout.types);
  if (typed) std::memcpy(types, batch.type_ids.data(), static_cast<size_t>(tokens) * sizeof(int32_t));
  else std::fill(types, types + tokens, 0);
  for (int64_t t = 0; t < tokens; ++t) {
    const int32_t id = batch.ids[static_cast<size_t>(t)];
    if (id < 0 || id >= tables.vocab || positions[t] < 0 || positions[t] >= tables.positions || types[t] < 0 ||
        types[t] >= tables.types) {
      throw Error(Error::Kind::kInternal, "token id, type or position outside the model's tables");
    }
  }

  for (size_t s = 0; s < batch.num_sequences(); ++s) pass.longest = std::max<int64_t>(pass.longest, batch.length(s));
  if (shape.heads > 0) {
    pass.attention = plan_attention(batch.seq_starts, shape.heads, shape.head_dim, shape.element_bytes,
                                    plan.attention_scratch_bytes);
  }
  const auto items = static_cast<int64_t>(pass.attention.items.size());
  if (items > plan.max_items) throw Error(Error::Kind::kInternal, "attention plan: more items than planned");
  if (items > 0) {  // a decoder's pass has none, and memcpy from an empty vector's null is undefined
    std::memcpy(host + layout.items, pass.attention.items.data(), static_cast<size_t>(items) * sizeof(AttentionItem));
  }
  pass.regions = {{{layout.ids, tokens * 4},
                   {layout.positions, tokens * 4},
                   {layout.types, tokens * 4},
                   {layout.seq_starts, (sequences + 1) * 4},
                   {layout.items, items * static_cast<int64_t>(sizeof(AttentionItem))}}};
  return pass;
}

PassSlots::PassSlots(int count) : slots_(static_cast<size_t>(count)) {
  if (count <= 0) throw Error(Error::Kind::kInternal, "PassSlots: no slots");
}

PassSlots::Begun PassSlots::begin() {
  State& next = slots_[static_cast<size_t>(next_)];
  if (next.read_pending) {
    throw Error(Error::Kind::kInternal,
                "CUDA backend: more passes in flight than its " + std::to_string(count()) + " slots");
  }
  Begun begun{next_, -1};
  if (current_ >= 0 && slots_[static_cast<size_t>(current_)].open) {
    slots_[static_cast<size_t>(current_)].open = false;
    begun.abandoned = current_;
  }
  next.open = true;
  current_ = next_;
  next_ = (next_ + 1) % count();
  return begun;
}

int PassSlots::read() {
  if (current_ < 0 || !slots_[static_cast<size_t>(current_)].open) {
    throw Error(Error::Kind::kInternal, "CUDA backend: a read without a pass (before any batch, or a second read)");
  }
  State& slot = slots_[static_cast<size_t>(current_)];
  slot.open = false;
  slot.read_pending = true;
  return current_;
}

void PassSlots::collected(int slot) { slots_.at(static_cast<size_t>(slot)).read_pending = false; }

}  // namespace rerankd::cuda
