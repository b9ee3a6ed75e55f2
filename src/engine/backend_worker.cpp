#include "engine/backend_worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace rerankd {

std::vector<float> ModelPassRunner::finish() {
  std::unique_ptr<PendingRead> oldest = std::move(pending_.front());
  pending_.pop_front();
  return oldest->wait();
}

BackendWorker::BackendWorker(PassSource& source, PassRunner& runner, const TimeSource& clock)
    : source_(source), runner_(runner), clock_(clock), thread_([this] { loop(); }) {}

BackendWorker::~BackendWorker() { thread_.join(); }

void BackendWorker::loop() {
  for (;;) {
    if (in_flight_.size() < static_cast<size_t>(runner_.depth())) {
      // With a pass running, take the next only if it is ready: waiting for work here would hold
      // back the running pass's answers.
      std::optional<PlannedPass> pass =
          source_.next_pass(in_flight_.empty() ? PassSource::Wait::kBlock : PassSource::Wait::kPoll);
      if (pass) {
        begin(std::move(*pass));
        continue;
      }
      if (in_flight_.empty()) break;  // stopping
    }
    finish_oldest();
  }
  alive_ = false;
}

void BackendWorker::begin(PlannedPass pass) {
  InFlight f{std::move(pass), clock_.now(), {}};
  try {
    runner_.begin(f.pass.batch);
  } catch (const std::exception& e) {
    // Not swallowed: the source fails every request of the pass with this message.
    spdlog::error("backend worker: forward pass failed: {}", e.what());
    f.error = e.what();
  }
  in_flight_.push_back(std::move(f));
}

void BackendWorker::finish_oldest() {
  InFlight f = std::move(in_flight_.front());
  in_flight_.pop_front();
  PassOutcome outcome;
  outcome.error = std::move(f.error);
  if (outcome.error.empty()) {
    try {
      outcome.logits = runner_.finish();
    } catch (const std::exception& e) {
      spdlog::error("backend worker: forward pass failed: {}", e.what());
      outcome.error = e.what();
      outcome.logits.clear();
    }
  }
  const Clock::time_point end = clock_.now();
  outcome.start = std::max(f.begun, last_end_);
  outcome.seconds = seconds_between(outcome.start, end);
  last_end_ = end;
  source_.pass_done(f.pass, std::move(outcome));
}

}  // namespace rerankd
