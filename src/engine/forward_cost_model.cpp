#include "engine/forward_cost_model.h"

#include <algorithm>
#include <bit>

namespace rerankd {

namespace {
constexpr double kSmoothing = 0.3;  // weight of a new pass in its group's throughput
constexpr uint64_t kSettled = 2;    // passes a group needs before exploration moves past it
}  // namespace

ForwardCostModel::ForwardCostModel(const CostModelOptions& options)
    : options_(options), groups_(group_of(std::max<size_t>(options.max_tokens, 1)) + 2) {
  options_.max_tokens = std::max<size_t>(options_.max_tokens, 1);
  options_.first_tokens = std::clamp<size_t>(options_.first_tokens, 1, options_.max_tokens);
  budget_ = options_.first_tokens;
}

size_t ForwardCostModel::group_of(size_t tokens) {
  return tokens <= 1 ? 0 : static_cast<size_t>(std::bit_width(tokens - 1));
}

void ForwardCostModel::record(size_t tokens, double seconds) {
  if (tokens == 0 || seconds <= 0) return;
  // A single pair longer than max_tokens still runs: count it with the largest group.
  Group& g = groups_[std::min(group_of(tokens), groups_.size() - 1)];
  const double rate = static_cast<double>(tokens) / seconds;
  g.tokens_per_second = g.passes == 0 ? rate : (1 - kSmoothing) * g.tokens_per_second + kSmoothing * rate;
  ++g.passes;
  choose_budget();
}

void ForwardCostModel::choose_budget() {
  double best = 0;
  size_t top = 0;
  bool any = false;
  for (size_t g = 0; g < groups_.size(); ++g) {
    if (groups_[g].passes == 0) continue;
    any = true;
    best = std::max(best, groups_[g].tokens_per_second);
    top = g;
  }
  if (!any) return;
  double below_top = 0;
  size_t knee = top;
  for (size_t g = 0; g < top; ++g) {
    if (groups_[g].passes == 0) continue;
    below_top = std::max(below_top, groups_[g].tokens_per_second);
    if (knee == top && groups_[g].tokens_per_second >= options_.good_enough * best) knee = g;
  }
  const double top_rate = groups_[top].tokens_per_second;
  const size_t top_size = std::min(size_t{1} << top, options_.max_tokens);
  const size_t next = std::min(top_size * 2, options_.max_tokens);
  const bool still_gaining = below_top == 0 || top_rate >= options_.worth_doubling * below_top;
  const bool room = next > top_size && static_cast<double>(next) / top_rate <= options_.max_pass_seconds;
  if (still_gaining && room) {
    exploring_ = true;
    budget_ = groups_[top].passes >= kSettled ? next : top_size;
    return;
  }
  exploring_ = false;
  size_t budget = std::min(size_t{1} << knee, options_.max_tokens);
  while (budget > options_.first_tokens && static_cast<double>(budget) / best > options_.max_pass_seconds) budget /= 2;
  budget_ = std::max<size_t>(budget, 1);
}

double ForwardCostModel::tokens_per_second() const {
  const size_t at = std::min(group_of(budget_), groups_.size() - 1);
  for (size_t g = at + 1; g-- > 0;) {
    if (groups_[g].passes > 0) return groups_[g].tokens_per_second;
  }
  for (size_t g = at + 1; g < groups_.size(); ++g) {
    if (groups_[g].passes > 0) return groups_[g].tokens_per_second;
  }
  return 0;
}

double ForwardCostModel::seconds_for(size_t tokens) const {
  const double rate = tokens_per_second();
  return rate > 0 ? static_cast<double>(tokens) / rate : 0;
}

}  // namespace rerankd
