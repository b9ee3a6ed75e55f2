#pragma once
// The backend worker: the one thread that owns the model and runs forward passes. It asks its
// source for the next pass, runs it, times it and hands the logits back; forming passes and
// completing requests belong to the source (the Scheduler). This is the seam where a GPU backend
// will overlap host work (packing the next pass, reading back the last) with the device.
#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/batch_policy.h"
#include "engine/clock.h"
#include "kernels/backend.h"

namespace rerankd {

struct PlannedPass {
  PackedBatch batch;
  std::vector<BatchPolicy::PairRef> pairs;  // the pairs it scores: sequence i of `batch` is pair i's...
  std::vector<uint32_t> sequence_of;        // ...unless identical pairs share one: then pair i's is sequence_of[i]
};

struct PassOutcome {
  std::vector<float> logits;  // one per sequence; empty when `error` is set
  Clock::time_point start;
  double seconds = 0;
  std::string error;  // what the backend threw
};

class PassSource {
 public:
  virtual ~PassSource() = default;
  // Blocks until there is a pass to run; nullopt: stop.
  virtual std::optional<PlannedPass> next_pass() = 0;
  virtual void pass_done(PlannedPass& pass, PassOutcome outcome) = 0;
};

using ForwardFn = std::function<std::vector<float>(const PackedBatch&)>;

class BackendWorker {
 public:
  // Starts the thread; `source`, `forward` and `clock` must outlive the worker.
  BackendWorker(PassSource& source, ForwardFn forward, const TimeSource& clock);
  ~BackendWorker();  // joins: the source must be stopping (next_pass returns nullopt)
  BackendWorker(const BackendWorker&) = delete;
  BackendWorker& operator=(const BackendWorker&) = delete;

  bool alive() const { return alive_.load(); }

 private:
  void loop();

  PassSource& source_;
  ForwardFn forward_;
  const TimeSource& clock_;
  std::atomic<bool> alive_{true};
  std::thread thread_;
};

}  // namespace rerankd
