#pragma once
// What a forward pass costs on this machine, learnt online from the passes that ran, and the batch
// size that follows from it. Passes are grouped by token count in powers of two; each group keeps a
// smoothed throughput. The budget is the smallest size whose throughput is within `good_enough` of
// the best seen: beyond the knee of the curve a bigger pass buys latency and nothing else (a CPU
// flattens after a few hundred tokens, a GPU after tens of thousands). Without data it starts small
// and doubles while doubling still pays, never past `max_tokens` or a pass of `max_pass_seconds`.
// Keyed by tokens: passes are packed (no padding), so tokens are what the cost grows with; the pair
// count only bounds a pass (`max_sequences` in BatchBounds).
#include <cstddef>
#include <cstdint>
#include <vector>

namespace rerankd {

struct CostModelOptions {
  size_t max_tokens = 65536;     // --max-batch-tokens: never plan a bigger pass
  double max_pass_seconds = 3;   // latency cap: a new request may wait behind one pass this long
  size_t first_tokens = 64;      // where exploration starts
  double good_enough = 0.95;     // share of the best throughput that the budget must reach
  double worth_doubling = 1.05;  // keep exploring upwards while a doubling gains at least this factor
};

class ForwardCostModel {
 public:
  explicit ForwardCostModel(const CostModelOptions& options);

  void record(size_t tokens, double seconds);

  size_t token_budget() const { return budget_; }
  bool exploring() const { return exploring_; }
  // Tokens per second at the budget (the nearest measured size below it, else above); 0: none yet.
  double tokens_per_second() const;
  // Predicted model time for `tokens` run in budget-sized passes; 0 when nothing was measured.
  double seconds_for(size_t tokens) const;

 private:
  struct Group {
    double tokens_per_second = 0;  // smoothed
    uint64_t passes = 0;
  };
  static size_t group_of(size_t tokens);  // ceil(log2(tokens)): passes of (2^(g-1), 2^g] tokens
  void choose_budget();

  CostModelOptions options_;
  std::vector<Group> groups_;
  size_t budget_;
  bool exploring_ = true;
};

}  // namespace rerankd
