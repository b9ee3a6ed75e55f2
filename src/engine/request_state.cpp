#include "engine/request_state.h"

#include <cmath>

namespace rerankd {

std::vector<size_t> EncodedRequest::lengths() const {
  std::vector<size_t> lengths;
  lengths.reserve(pairs.size());
  for (const EncodedPair& p : pairs) lengths.push_back(p.ids.size());
  return lengths;
}

RerankOutput EncodedRequest::output() const {
  RerankOutput out;
  out.total_tokens = total_tokens;
  out.cached_pairs = cached_pairs;
  out.usage = usage;
  const size_t documents = first_unit.size() - 1;
  out.logits.resize(documents);
  out.chunks.resize(documents);
  for (size_t d = 0; d < documents; ++d) {
    // The best window; the first on a tie; NaN only if all are.
    uint32_t best = first_unit[d];
    for (uint32_t u = best + 1; u < first_unit[d + 1]; ++u) {
      if (unit_logits[u] > unit_logits[best] || (std::isnan(unit_logits[best]) && !std::isnan(unit_logits[u]))) {
        best = u;
      }
    }
    out.logits[d] = unit_logits[best];
    out.chunks[d] = unit_chunks[best];
  }
  return out;
}

void RequestState::deliver(RerankResult result) {
  const RerankCallback done = std::move(done_);
  [&]() noexcept { done(std::move(result)); }();
}

bool RequestState::record(size_t index, float logit, uint64_t pass, Clock::time_point start, double seconds) {
  for (const uint32_t unit : encoded.units_of[index]) encoded.unit_logits[unit] = logit;
  if (!first_run) first_run = start;
  if (last_pass != pass) inference_seconds += seconds;
  last_pass = pass;
  return --unscored == 0;
}

RerankOutput RequestState::output() const {
  RerankOutput out = encoded.output();
  if (first_run) out.queue_seconds = seconds_between(accepted, *first_run);
  out.inference_seconds = inference_seconds;
  return out;
}

}  // namespace rerankd
