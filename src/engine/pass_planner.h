#pragma once
// Planning, the step between the policy and the model: the policy's choice of pairs becomes the
// packed batch the backend runs. With the score cache on, identical pairs of different requests
// in one pass run as one sequence. Pure: it reads the requests' encoded pairs and holds nothing.
#include <functional>

#include "engine/backend_worker.h"
#include "engine/batch_policy.h"
#include "engine/scheduler_metrics.h"
#include "tokenizer/pair_tokenizer.h"

namespace rerankd {

// The encoded pair a policy pair refers to.
using PairLookup = std::function<const EncodedPair&(const BatchPolicy::PairRef&)>;

// `share_identical`: run identical pairs once (PlannedPass::sequence_of maps them). The batch's
// positions follow `positions`, the model's rule.
PlannedPass plan_pass(const BatchPolicy::Pass& pass, const PairLookup& pair_of, PositionRule positions,
                      bool share_identical, SchedulerMetrics& metrics);

}  // namespace rerankd
