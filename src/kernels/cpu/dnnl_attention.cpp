#include "kernels/cpu/dnnl_attention.h"


#include <algorithm>
#include <cmath>

#include "kernels/cpu/softmax_kernels.h"

namespace rerankd::cpu {
namespace {

using dnnl::memory;
using dt = memory::data_type;

// A unit's scores should stay within half a Zen 4 / recent Xeon core's L2, leaving room for its
// Q, K and V slices.
constexpr int64_t kUnitScoresBytes = 512 * 1024;
// Enough units per thread that sequences of different lengths still balance.
constexpr int64_t kUnitsPerThread = 4;

// The most heads per unit (a divisor of num_heads) within the cache budget that still leaves
// every thread several units.
int64_t heads_per_unit(int64_t length, int64_t num_heads, int64_t sequences, int64_t threads) {
  int64_t heads = num_heads;
  auto too_big = [&](int64_t h) {
    return h * length * length * static_cast<int64_t>(sizeof(float)) > kUnitScoresBytes ||
           sequences * (num_heads / h) < kUnitsPerThread * threads;
  };
  while (heads > 1 && too_big(heads)) {
    do --heads;
    while (num_heads % heads != 0);
  }
  return heads;
}

}  // namespace

const AttentionMatmuls& DnnlAttention::primitives(int64_t length, int64_t heads, int64_t hidden,
                                                          int64_t num_heads) {
  auto it = cache_.find({length, heads});
  if (it != cache_.end()) return it->second;

  const int64_t L = length, d = hidden / num_heads, row = 3 * hidden;
  return cache_
      .try_emplace(std::pair{length, heads}, engine_,
                   memory::desc({heads, L, d}, dt::f32, memory::dims{d, row, 1}),
                   memory::desc({heads, d, L}, dt::f32, memory::dims{d, 1, row}),  // K^T, read in place
                   memory::desc({heads, L, d}, dt::f32, memory::dims{d, row, 1}),
                   memory::desc({heads, L, d}, dt::f32, memory::dims{d, hidden, 1}))
      .first->second;
}

void DnnlAttention::run(const float* qkv, const std::vector<int32_t>& seq_starts, int64_t hidden, int64_t num_heads,
                        int threads, float* context) {
  const auto sequences = static_cast<int64_t>(seq_starts.size()) - 1;
  // Plan the units and make their primitives here, on the calling thread: the cache is not shared.
  // Bounded like MatmulCache (a server sees every length); cleared before planning, since the
  // units point into it.
  if (cache_.size() >= kMaxCachedShapes) cache_.clear();
  units_.clear();
  for (int64_t s = 0; s < sequences; ++s) {
    const int64_t begin = seq_starts[s], length = seq_starts[s + 1] - seq_starts[s];
    if (length == 0) continue;
    const int64_t heads = heads_per_unit(length, num_heads, sequences, threads);
    const AttentionMatmuls& p = primitives(length, heads, hidden, num_heads);
    for (int64_t h = 0; h < num_heads; h += heads) units_.push_back({begin, length, h, heads, &p});
  }
  workers_.run(engine_, threads, units_.size(), [&](size_t u, dnnl::stream& stream, AttentionScratch& scratch) {
    run_unit(units_[u], qkv, hidden, num_heads, context, stream, scratch);
  });
}

void DnnlAttention::run_unit(const Unit& unit, const float* qkv, int64_t hidden, int64_t num_heads, float* context,
                             dnnl::stream& stream, AttentionScratch& scratch) const {
  const int64_t L = unit.length, d = hidden / num_heads;
  float* q = const_cast<float*>(qkv) + unit.begin * 3 * hidden + unit.first_head * d;
  const float scale = 1.f / std::sqrt(static_cast<float>(d));
  unit.primitives->run(stream, scratch, q, q + hidden, q + 2 * hidden,
                       context + unit.begin * hidden + unit.first_head * d, [&](float* scores) {
                         for (int64_t r = 0; r < unit.heads * L; ++r) softmax_row(scores + r * L, L, scale);
                       });
}

}  // namespace rerankd::cpu
