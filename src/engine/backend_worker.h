#pragma once
// The backend worker: the one thread that owns the model and runs forward passes. It asks its
// source for the next pass, runs it, times it and hands the logits back; forming passes and
// completing requests belong to the source (the Scheduler).
//
// Overlap: a runner may take more than one pass at a time (a device backend queues a pass and
// returns; kernels/backend.h, pass_slots). The worker then begins the next pass, if the source has
// one ready, before it waits for the oldest, so the host packs and queues pass N+1 (and its inputs
// go in) while the device runs pass N. Passes are finished and handed back in the order begun.
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "engine/batch_policy.h"
#include "engine/clock.h"
#include "kernels/backend.h"
#include "model/cross_encoder.h"

namespace rerankd {

struct PlannedPass {
  PackedBatch batch;
  std::vector<BatchPolicy::PairRef> pairs;  // the pairs it scores: sequence i of `batch` is pair i's...
  std::vector<uint32_t> sequence_of;        // ...unless identical pairs share one: then pair i's is sequence_of[i]
};

struct PassOutcome {
  std::vector<float> logits;  // one per sequence; empty when `error` is set
  // When the pass had the device to itself: its begin, or the end of the pass before it if that
  // was later. start + seconds is when its logits were back, so overlapped passes are not counted
  // twice and the cost model learns the device's time per pass.
  Clock::time_point start;
  double seconds = 0;
  std::optional<Error> error;  // what the backend threw, its Kind kept (kInternal for a std::exception)
};

class PassSource {
 public:
  virtual ~PassSource() = default;
  enum class Wait { kBlock, kPoll };
  // kBlock: blocks until there is a pass to run; nullopt: stop. kPoll: nullopt also when nothing
  // is ready now (the worker asks while a pass is running, and must not wait on an empty queue).
  virtual std::optional<PlannedPass> next_pass(Wait wait) = 0;
  virtual void pass_done(PlannedPass& pass, PassOutcome outcome) = 0;
};

// Runs forward passes, up to depth() of them begun and not yet finished.
class PassRunner {
 public:
  virtual ~PassRunner() = default;
  virtual int depth() const = 0;
  // How the model numbers its tokens, for the batches handed to begin().
  virtual PositionRule position_rule() const { return {}; }
  // Starts a pass. A throw means it never started (finish() is not called for it).
  virtual void begin(const PackedBatch& batch) = 0;
  // The oldest begun pass's logits; it is finished even when this throws.
  virtual std::vector<float> finish() = 0;
};

using ForwardFn = std::function<std::vector<float>(const PackedBatch&)>;

// One pass at a time: begin() computes it.
class SyncPassRunner final : public PassRunner {
 public:
  explicit SyncPassRunner(ForwardFn forward) : forward_(std::move(forward)) {}
  int depth() const override { return 1; }
  void begin(const PackedBatch& batch) override { logits_ = forward_(batch); }
  std::vector<float> finish() override { return std::move(logits_); }

 private:
  ForwardFn forward_;
  std::vector<float> logits_;
};

// A model's passes, as many in flight as its backend has slots for.
class ModelPassRunner final : public PassRunner {
 public:
  ModelPassRunner(CrossEncoder& model, int depth) : model_(model), depth_(depth < 1 ? 1 : depth) {}
  int depth() const override { return depth_; }
  PositionRule position_rule() const override { return model_.config().position_rule(); }
  void begin(const PackedBatch& batch) override { pending_.push_back(model_.begin_forward(batch)); }
  std::vector<float> finish() override;

 private:
  CrossEncoder& model_;
  int depth_;
  std::deque<std::unique_ptr<PendingRead>> pending_;
};

class BackendWorker {
 public:
  // Starts the thread; `source`, `runner` and `clock` must outlive the worker. A pass that throws
  // fails its own requests (PassOutcome::error) and the worker goes on; the source must not throw
  // (an exception there is a bug in the scheduler, and ends the process: there is no state in
  // which the server runs on without its model).
  BackendWorker(PassSource& source, PassRunner& runner, const TimeSource& clock);
  ~BackendWorker();  // joins: the source must be stopping (next_pass returns nullopt)
  BackendWorker(const BackendWorker&) = delete;
  BackendWorker& operator=(const BackendWorker&) = delete;

 private:
  struct InFlight {
    PlannedPass pass;
    Clock::time_point begun;
    std::optional<Error> error;  // begin() threw: nothing to finish
  };
  void loop();
  void begin(PlannedPass pass);
  void finish_oldest();

  PassSource& source_;
  PassRunner& runner_;
  const TimeSource& clock_;
  std::deque<InFlight> in_flight_;  // the worker thread's alone
  Clock::time_point last_end_{};
  std::thread thread_;
};

}  // namespace rerankd
