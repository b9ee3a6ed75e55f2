#include "engine/pass_planner.h"

#include <string>
#include <unordered_map>

#include "engine/score_cache.h"

namespace rerankd {

PlannedPass plan_pass(const BatchPolicy::Pass& pass, const PairLookup& pair_of, PositionRule positions,
                      bool share_identical, SchedulerMetrics& metrics) {
  PlannedPass planned{.batch = PackedBatch(positions), .pairs = {}, .sequence_of = {}};
  planned.pairs = pass.pairs;
  if (!share_identical) {
    for (const BatchPolicy::PairRef& p : pass.pairs) {
      const EncodedPair& pair = pair_of(p);
      planned.batch.add(pair.ids, pair.type_ids);
    }
    return planned;
  }
  std::unordered_map<std::string, uint32_t> sequences;
  for (const BatchPolicy::PairRef& p : pass.pairs) {
    const EncodedPair& pair = pair_of(p);
    const auto [it, added] = sequences.emplace(identity_key(pair_identity(pair.ids, pair.type_ids)),
                                               static_cast<uint32_t>(planned.batch.num_sequences()));
    if (added) {
      planned.batch.add(pair.ids, pair.type_ids);
    } else {
      metrics.shared_pairs.inc();
    }
    planned.sequence_of.push_back(it->second);
  }
  return planned;
}

}  // namespace rerankd
