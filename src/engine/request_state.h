#pragma once
// One request on its way through the scheduler: its input, its encoded pairs, the scores as they
// come back, and the one completion. The request's path: encode (request_encoder.h), admit
// (admission.h), plan (pass_planner.h), run (backend_worker.h), complete (here).
#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include "engine/clock.h"
#include "engine/rerank_types.h"
#include "tokenizer/pair_tokenizer.h"

namespace rerankd {

// What encoding made of a request. A unit is one pair of a document (its one pair, or one of its
// chunks); a queued pair scores one unit or, with the score cache on, every identical one.
struct EncodedRequest {
  std::vector<EncodedPair> pairs;               // to run, by the policy's pair index
  std::vector<std::vector<uint32_t>> units_of;  // per queued pair
  std::vector<float> unit_logits;               // cached ones filled in already
  std::vector<ChunkChoice> unit_chunks;
  std::vector<uint32_t> first_unit;  // per document, and the end: its units
  std::vector<PairUsage> usage;      // per document
  size_t total_tokens = 0;           // of every unit
  size_t run_tokens = 0;             // of the queued pairs
  size_t cached_pairs = 0;

  std::vector<size_t> lengths() const;  // of the queued pairs
  // The best unit of each document, as Cohere scores a chunked document.
  RerankOutput output() const;
};

class RequestState {
 public:
  RequestState(RerankInput in, RerankCallback cb, uint64_t request_id, Clock::time_point now)
      : input(std::move(in)), id(request_id), accepted(now), done_(std::move(cb)) {}

  RerankInput input;
  const uint64_t id;  // the policy's RequestId
  const Clock::time_point accepted;

  // Guarded by the scheduler's mutex once admitted.
  EncodedRequest encoded;
  size_t unscored = 0;
  std::optional<Clock::time_point> first_run;
  double inference_seconds = 0;  // of the passes that carried its pairs, each counted once
  uint64_t last_pass = 0;        // the latest pass that carried one of its pairs

  // Exactly one party completes a request (the backend worker, a tokenizer, a deadline timer or
  // a disconnect): claim() says whether the caller is that party; only it may deliver().
  bool claim() { return !finished_.exchange(true); }
  bool finished() const { return finished_.load(); }
  // Runs the callback. The callback and what it captures (the caller's side of the request, which
  // holds this state) are released here even if the state lives on: no reference cycle.
  void deliver(RerankResult result);

  // Pair `index` of the queue scored `logit` in pass `pass` (started at `start`, `seconds` long).
  // True when it was the request's last.
  bool record(size_t index, float logit, uint64_t pass, Clock::time_point start, double seconds);
  RerankOutput output() const;  // once every pair is scored

 private:
  std::atomic<bool> finished_{false};
  RerankCallback done_;
};

}  // namespace rerankd
