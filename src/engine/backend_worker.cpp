#include "engine/backend_worker.h"

#include <spdlog/spdlog.h>

namespace rerankd {

BackendWorker::BackendWorker(PassSource& source, ForwardFn forward, const TimeSource& clock)
    : source_(source), forward_(std::move(forward)), clock_(clock), thread_([this] { loop(); }) {}

BackendWorker::~BackendWorker() { thread_.join(); }

void BackendWorker::loop() {
  while (std::optional<PlannedPass> pass = source_.next_pass()) {
    PassOutcome outcome;
    outcome.start = clock_.now();
    try {
      outcome.logits = forward_(pass->batch);
    } catch (const std::exception& e) {
      // Not swallowed: the source fails every request of the pass with this message.
      spdlog::error("backend worker: forward pass failed: {}", e.what());
      outcome.error = e.what();
    }
    outcome.seconds = seconds_between(outcome.start, clock_.now());
    source_.pass_done(*pass, std::move(outcome));
  }
  alive_ = false;
}

}  // namespace rerankd
