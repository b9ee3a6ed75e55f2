#include "engine/backend_worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/thread_role.h"

namespace rerankd {
namespace {

// The backend's own Kind (a model file it could not read, the device gone) reaches the requests;
// anything else from below is a bug.
Error pass_error(const std::exception& e) {
  if (const auto* error = dynamic_cast<const Error*>(&e)) return *error;
  return Error(Error::Kind::kInternal, std::string("model: ") + e.what());
}

}  // namespace

std::vector<float> ModelPassRunner::finish() {
  std::unique_ptr<PendingRead> oldest = std::move(pending_.front());
  pending_.pop_front();
  return oldest->wait();
}

BackendWorker::BackendWorker(PassSource& source, PassRunner& runner, const TimeSource& clock)
    : source_(source), runner_(runner), clock_(clock), thread_([this] { loop(); }) {}

BackendWorker::~BackendWorker() { thread_.join(); }

void BackendWorker::loop() {
  set_thread_role(ThreadRole::kCompute, 0);
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
      if (in_flight_.empty()) return;  // stopping
    }
    finish_oldest();
  }
}

void BackendWorker::begin(PlannedPass pass) {
  InFlight f{std::move(pass), clock_.now(), std::nullopt};
  try {
    runner_.begin(f.pass.batch);
  } catch (const std::exception& e) {
    // Not swallowed: the source fails every request of the pass with it.
    spdlog::error("backend worker: forward pass failed: {}", e.what());
    f.error = pass_error(e);
  }
  in_flight_.push_back(std::move(f));
}

void BackendWorker::finish_oldest() {
  InFlight f = std::move(in_flight_.front());
  in_flight_.pop_front();
  PassOutcome outcome;
  outcome.error = std::move(f.error);
  if (!outcome.error) {
    try {
      outcome.logits = runner_.finish();
    } catch (const std::exception& e) {
      spdlog::error("backend worker: forward pass failed: {}", e.what());
      outcome.error = pass_error(e);
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
