#pragma once
// A pass's inputs, packed on the host, and the pass slots they go into: the CUDA backend's pure
// host logic for a pass (in every build, so the CPU suite tests it). cuda_pass_slots.h uploads what
// this packs.
#include <array>
#include <cstdint>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_plan.h"

namespace rerankd::cuda {

// The embedding tables' rows.
struct TableBounds {
  int64_t vocab = 0, positions = 0, types = 0;
};

// The encoder attention's shape, for its plan; heads 0: a decoder's pass, whose attention needs
// no plan (causal_attention reads the batch's seq_starts).
struct PassShape {
  int64_t heads = 0, head_dim = 0;
  int element_bytes = 4;  // of the attention's operands (the compute precision)
};

// What pack_pass wrote: the regions of the layout to upload (offset, bytes), and the pass's
// attention plan (its items are in the buffer too).
struct PackedPass {
  int64_t tokens = 0, sequences = 0;
  int64_t longest = 0;  // the longest sequence's tokens: the decoder attention's grid
  AttentionPlan attention;
  struct Region {
    int64_t offset = 0, bytes = 0;
  };
  std::array<Region, 5> regions;
};

// Packs `batch` into `host` at `layout`'s offsets: ids; the batch's position ids; token types (the batch's, or all 0); seq_starts; the attention item table.
// Throws Error(kInvalidInput) for a pass past the workspace's plan, Error(kInternal) for an id,
// position or type outside the tables (the tokenizer's bounds are the model's: a bug, never input).
PackedPass pack_pass(const PackedBatch& batch, const TableBounds& tables, const WorkspacePlan& plan,
                     const PassInputLayout& layout, const PassShape& shape, char* host);

// Which slot each pass uses, and what must be waited for before a slot is reused. A pass is open
// from begin() until its read is queued; one that is still open when the next begins was abandoned
// (an op threw): its slot's `done` event still marks an older pass, so the backend records it
// again, after the abandoned pass's queued work, before that slot is used.
class PassSlots {
 public:
  explicit PassSlots(int count);

  struct Begun {
    int slot = 0;
    int abandoned = -1;  // the slot of an abandoned pass, or -1
  };
  // Throws Error(kInternal) when the next slot's read has not been collected: more passes in
  // flight than slots.
  Begun begin();
  // The current pass's read is queued; throws Error(kInternal) when there is no open pass.
  int read();
  void collected(int slot);  // its read was waited for, or given up

  int count() const { return static_cast<int>(slots_.size()); }
  bool open(int slot) const { return slots_.at(static_cast<size_t>(slot)).open; }
  bool read_pending(int slot) const { return slots_.at(static_cast<size_t>(slot)).read_pending; }

 private:
  struct State {
    bool open = false, read_pending = false;
  };
  std::vector<State> slots_;
  int next_ = 0;
  int current_ = -1;
};

}  // namespace rerankd::cuda
