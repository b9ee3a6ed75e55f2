#pragma once
// A pass's inputs on their way in and its logits on their way out, in one of kPassSlots slots so
// the next pass's inputs go in while one runs. Each slot: a pinned host buffer the inputs are
// packed into (cuda_pass_inputs.h), their device copy in the workspace (uploaded on the copy-in
// stream; the compute stream waits for it, not the host), and the logits, copied on the compute
// stream into the slot's own device buffer (so the next pass may overwrite the head's matrix) and
// from there to pinned host memory on the copy-out stream.
#include <cuda_runtime_api.h>

#include <memory>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_buffer.h"
#include "kernels/cuda/cuda_pass_inputs.h"

namespace rerankd::cuda {

class Workspace;

struct Streams {
  cudaStream_t compute = nullptr, copy_in = nullptr, copy_out = nullptr;
};

class PassSlotRing {
 public:
  // Takes each slot's device memory from `workspace`.
  PassSlotRing(const WorkspacePlan& plan, const PassInputLayout& layout, int64_t labels, Workspace& workspace,
               Streams streams);
  ~PassSlotRing();
  PassSlotRing(const PassSlotRing&) = delete;
  PassSlotRing& operator=(const PassSlotRing&) = delete;

  // Packs the batch into the next slot once that slot's last pass is done with it, and uploads it;
  // the compute stream's next work waits for the upload.
  const PackedPass& begin(const PackedBatch& batch, const TableBounds& tables, const PassShape& shape);
  // The current pass's inputs: on the host (the attention's pointer arrays are written there) and
  // on the device.
  char* host() const;
  char* device() const;
  const PackedPass& pass() const { return pass_; }
  // The first `count` floats at `logits` (device, float32), once the compute stream's queued work
  // is done.
  std::unique_ptr<PendingRead> read(const float* logits, size_t count);

 private:
  struct Slot;
  class PendingLogits;

  Slot& current() const;

  WorkspacePlan plan_;
  PassInputLayout layout_;
  Streams streams_;
  PassSlots states_;
  std::vector<std::unique_ptr<Slot>> slots_;
  Slot* current_ = nullptr;
  PackedPass pass_;
};

}  // namespace rerankd::cuda
