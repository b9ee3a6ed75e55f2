#include "kernels/cuda/cuda_pass_slots.h"

#include <algorithm>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_workspace.h"

namespace rerankd::cuda {

struct PassSlotRing::Slot {
  Slot(int64_t input_bytes, int64_t logits)
      : host(input_bytes), host_logits(logits * static_cast<int64_t>(sizeof(float))), logits_capacity(logits) {}

  PinnedBuffer host;               // the pass's inputs, layout_.bytes
  char* device = nullptr;          // in the workspace, layout_.bytes
  float* device_logits = nullptr;  // in the workspace, plan_.slot_logits_bytes
  PinnedBuffer host_logits;
  int64_t logits_capacity = 0;  // floats
  cudaEvent_t uploaded = nullptr, done = nullptr, read_done = nullptr;

  ~Slot() {
    for (cudaEvent_t e : {uploaded, done, read_done}) {
      if (e != nullptr) cudaEventDestroy(e);
    }
  }
};

// The logits of one slot's pass, once the copy-out stream has them on the host.
class PassSlotRing::PendingLogits final : public PendingRead {
 public:
  PendingLogits(PassSlots& states, int index, const Slot& slot, size_t count)
      : states_(states), index_(index), slot_(slot), count_(count) {}
  // Given up unwaited: the slot is free once its read_done has fired, which the next pass in it
  // waits for. (Once waited, the slot may already hold a later pass, whose read this is not.)
  ~PendingLogits() override {
    if (!waited_) states_.collected(index_);
  }
  std::vector<float> wait() override {
    check(cudaEventSynchronize(slot_.read_done), "the forward pass");
    states_.collected(index_);
    waited_ = true;
    const auto* logits = reinterpret_cast<const float*>(slot_.host_logits.get());
    return std::vector<float>(logits, logits + count_);
  }

 private:
  PassSlots& states_;
  int index_;
  const Slot& slot_;
  size_t count_;
  bool waited_ = false;
};

PassSlotRing::PassSlotRing(const WorkspacePlan& plan, const PassInputLayout& layout, int64_t labels,
                           Workspace& workspace, Streams streams)
    : plan_(plan), layout_(layout), streams_(streams), states_(kPassSlots) {
  const int64_t logits = plan_.sequence_rows * std::max<int64_t>(labels, 1);
  for (int i = 0; i < kPassSlots; ++i) {
    auto slot = std::make_unique<Slot>(layout_.bytes, logits);
    slot->device = static_cast<char*>(workspace.take(layout_.bytes));
    slot->device_logits = static_cast<float*>(workspace.take(plan_.slot_logits_bytes));
    if (slot->device == nullptr || slot->device_logits == nullptr) {
      throw Error(Error::Kind::kInternal, "CUDA backend: the workspace has no room for the pass slots");
    }
    for (cudaEvent_t* e : {&slot->uploaded, &slot->done, &slot->read_done}) {
      check(cudaEventCreateWithFlags(e, cudaEventDisableTiming), "cudaEventCreate");
    }
    slots_.push_back(std::move(slot));
  }
}

PassSlotRing::~PassSlotRing() = default;

PassSlotRing::Slot& PassSlotRing::current() const {
  if (current_ == nullptr) throw Error(Error::Kind::kInternal, "CUDA backend: a pass's op without its batch");
  return *current_;
}

char* PassSlotRing::host() const { return current().host.get(); }
char* PassSlotRing::device() const { return current().device; }

const PackedPass& PassSlotRing::begin(const PackedBatch& batch, const TableBounds& tables, const PassShape& shape) {
  current_ = nullptr;
  const PassSlots::Begun begun = states_.begin();
  if (begun.abandoned >= 0) {
    // After everything the abandoned pass queued, so that reusing its slot waits for it.
    check(cudaEventRecord(slots_[static_cast<size_t>(begun.abandoned)]->done, streams_.compute),
          "cudaEventRecord (an abandoned pass)");
  }
  Slot& slot = *slots_[static_cast<size_t>(begun.slot)];
  // The slot's last pass has finished with its inputs and its logits.
  check(cudaEventSynchronize(slot.done), "cudaEventSynchronize");
  check(cudaEventSynchronize(slot.read_done), "cudaEventSynchronize");
  pass_ = pack_pass(batch, tables, plan_, layout_, shape, slot.host.get());
  for (const PackedPass::Region& r : pass_.regions) {
    if (r.bytes > 0) {
      check(cudaMemcpyAsync(slot.device + r.offset, slot.host.get() + r.offset, static_cast<size_t>(r.bytes),
                            cudaMemcpyHostToDevice, streams_.copy_in),
            "cudaMemcpyAsync (pass inputs)");
    }
  }
  check(cudaEventRecord(slot.uploaded, streams_.copy_in), "cudaEventRecord");
  check(cudaStreamWaitEvent(streams_.compute, slot.uploaded, 0), "cudaStreamWaitEvent");
  current_ = &slot;
  return pass_;
}

std::unique_ptr<PendingRead> PassSlotRing::read(const float* logits, size_t count) {
  Slot& slot = current();
  if (count > static_cast<size_t>(slot.logits_capacity)) {
    throw Error(Error::Kind::kInternal, "CUDA backend: a read larger than a pass's logits");
  }
  const int index = states_.read();
  const size_t bytes = count * sizeof(float);
  // A few KB into the slot's own buffer on the compute stream, then the pass is done; the host
  // copy goes on the copy-out stream while the compute stream moves on to the next pass.
  check(cudaMemcpyAsync(slot.device_logits, logits, bytes, cudaMemcpyDeviceToDevice, streams_.compute),
        "cudaMemcpyAsync (logits)");
  check(cudaEventRecord(slot.done, streams_.compute), "cudaEventRecord");
  check(cudaStreamWaitEvent(streams_.copy_out, slot.done, 0), "cudaStreamWaitEvent");
  check(cudaMemcpyAsync(slot.host_logits.get(), slot.device_logits, bytes, cudaMemcpyDeviceToHost, streams_.copy_out),
        "cudaMemcpyAsync (logits)");
  check(cudaEventRecord(slot.read_done, streams_.copy_out), "cudaEventRecord");
  return std::make_unique<PendingLogits>(states_, index, slot, count);
}

}  // namespace rerankd::cuda
