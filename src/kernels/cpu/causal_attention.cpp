#include "kernels/cpu/causal_attention.h"


#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/error.h"
#include "kernels/cpu/softmax_kernels.h"

namespace rerankd::cpu {
namespace {

using dnnl::memory;
using dt = memory::data_type;

constexpr int64_t kQueryBlock = 64;
// A unit's scores should stay within half a core's L2 (as the encoder's: dnnl_attention.cpp).
constexpr int64_t kUnitScoresBytes = 512 * 1024;

// The most query heads of one key/value group (a divisor of the group) whose scores fit the budget.
int64_t heads_per_unit(int64_t group, int64_t queries, int64_t keys) {
  int64_t heads = group;
  while (heads > 1 && heads * queries * keys * static_cast<int64_t>(sizeof(float)) > kUnitScoresBytes) {
    do --heads;
    while (group % heads != 0);
  }
  return heads;
}

}  // namespace

const AttentionMatmuls& CausalAttention::primitives(int64_t queries, int64_t keys, int64_t heads,
                                                               const DecoderAttentionShape& shape) {
  const Key key{queries, keys, heads, shape.q_heads, shape.kv_heads, shape.head_dim};
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second;

  const int64_t d = shape.head_dim, row = shape.q_width() + 2 * shape.kv_width(), out = shape.q_width();
  // K^T and V: one head, broadcast over the unit's query heads.
  return cache_
      .try_emplace(key, engine_, memory::desc({heads, queries, d}, dt::f32, memory::dims{d, row, 1}),
                   memory::desc({1, d, keys}, dt::f32, memory::dims{d, 1, row}),
                   memory::desc({1, keys, d}, dt::f32, memory::dims{d, row, 1}),
                   memory::desc({heads, queries, d}, dt::f32, memory::dims{d, out, 1}))
      .first->second;
}

void CausalAttention::run(const float* qkv, const std::vector<int32_t>& seq_starts, const DecoderAttentionShape& shape,
                          int threads, float* context) {
  if (shape.q_heads <= 0 || shape.kv_heads <= 0 || shape.q_heads % shape.kv_heads != 0 || shape.head_dim <= 0) {
    throw Error(Error::Kind::kInternal, "causal attention: query heads must be a multiple of key/value heads");
  }
  const int64_t group = shape.q_heads / shape.kv_heads;
  const auto sequences = static_cast<int64_t>(seq_starts.size()) - 1;
  // Planned here, on the calling thread: the cache is not shared. Cleared before planning, since
  // the units point into it.
  if (cache_.size() >= kMaxCachedShapes) cache_.clear();
  units_.clear();
  for (int64_t s = 0; s < sequences; ++s) {
    const int64_t begin = seq_starts[s], length = seq_starts[s + 1] - seq_starts[s];
    for (int64_t first = 0; first < length; first += kQueryBlock) {
      const int64_t queries = std::min(kQueryBlock, length - first), keys = first + queries;
      const int64_t heads = heads_per_unit(group, queries, keys);
      const AttentionMatmuls& p = primitives(queries, keys, heads, shape);
      for (int64_t h = 0; h < shape.q_heads; h += heads) units_.push_back({begin, first, queries, h, heads, &p});
    }
  }
  // The longest units first, so the short ones fill in at the end.
  std::stable_sort(units_.begin(), units_.end(), [](const Unit& a, const Unit& b) {
    return a.heads * a.queries * (a.first_query + a.queries) > b.heads * b.queries * (b.first_query + b.queries);
  });
  workers_.run(engine_, threads, units_.size(), [&](size_t u, dnnl::stream& stream, AttentionScratch& scratch) {
    run_unit(units_[u], qkv, shape, context, stream, scratch);
  });
}

void CausalAttention::run_unit(const Unit& unit, const float* qkv, const DecoderAttentionShape& shape, float* context,
                               dnnl::stream& stream, AttentionScratch& scratch) const {
  const int64_t d = shape.head_dim, row = shape.q_width() + 2 * shape.kv_width();
  const int64_t queries = unit.queries, keys = unit.first_query + unit.queries;
  const int64_t kv_head = unit.first_head / (shape.q_heads / shape.kv_heads);
  auto* sequence = const_cast<float*>(qkv) + unit.begin * row;
  float* k = sequence + shape.q_width() + kv_head * d;
  const float scale = 1.f / std::sqrt(static_cast<float>(d));
  unit.primitives->run(stream, scratch, sequence + unit.first_query * row + unit.first_head * d, k,
                       k + shape.kv_width(),
                       context + (unit.begin + unit.first_query) * shape.q_width() + unit.first_head * d,
                       [&](float* all) {
                         for (int64_t h = 0; h < unit.heads; ++h) {
                           for (int64_t i = 0; i < queries; ++i) {
                             float* scores = all + (h * queries + i) * keys;
                             const int64_t visible = unit.first_query + i + 1;  // keys 0..its own position
                             softmax_row(scores, visible, scale);
                             std::memset(scores + visible, 0, static_cast<size_t>(keys - visible) * sizeof(float));
                           }
                         }
                       });
}

}  // namespace rerankd::cpu
