#pragma once
// The score cache: an LRU map from a pair's token ids to the logit the model gave them, bounded in
// bytes. One scheduler serves one model at one precision, so the ids are the whole key: they
// already carry the query, the document (or the chunk of it) and the truncation that cut them.
// Thread-safe (one mutex): the tokenizer threads look up, the backend worker inserts.
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace rerankd {

// What makes two pairs the same, for the cache and for sharing one sequence within a request or a
// pass: their ids and, for models with token types, those too (a literal [SEP] in a query moves
// where the document's type begins).
std::vector<int32_t> pair_identity(std::span<const int32_t> ids, std::span<const int32_t> type_ids);
// The identity's bytes, as a hash-map key.
std::string identity_key(std::span<const int32_t> identity);

class ScoreCache {
 public:
  // Bytes an entry costs beyond its ids: the map and list nodes, the key string, the logit.
  static constexpr size_t kEntryOverhead = 128;

  explicit ScoreCache(size_t max_bytes) : max_bytes_(max_bytes) {}

  std::optional<float> find(std::span<const int32_t> ids);
  // Returns how many entries were evicted to make room. An entry larger than the whole bound is not kept.
  size_t insert(std::span<const int32_t> ids, float logit);

  struct Stats {
    uint64_t hits = 0, misses = 0, evictions = 0;
    size_t entries = 0, bytes = 0, max_bytes = 0;
  };
  Stats stats() const;

 private:
  struct Entry {
    float logit;
    std::list<const std::string*>::iterator age;  // its place in lru_
  };

  const size_t max_bytes_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<const std::string*> lru_;  // keys of entries_, most recently used first
  size_t bytes_ = 0;
  uint64_t hits_ = 0, misses_ = 0, evictions_ = 0;
};

}  // namespace rerankd
