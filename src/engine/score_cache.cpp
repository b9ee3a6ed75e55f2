#include "engine/score_cache.h"

#include <cstring>

namespace rerankd {

std::vector<int32_t> pair_identity(std::span<const int32_t> ids, std::span<const int32_t> type_ids) {
  std::vector<int32_t> identity(ids.begin(), ids.end());
  identity.insert(identity.end(), type_ids.begin(), type_ids.end());
  return identity;
}

std::string identity_key(std::span<const int32_t> identity) {
  std::string key(identity.size_bytes(), '\0');
  if (!identity.empty()) std::memcpy(key.data(), identity.data(), identity.size_bytes());
  return key;
}

std::optional<float> ScoreCache::find(std::span<const int32_t> ids) {
  const std::string key = identity_key(ids);
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(key);
  if (it == entries_.end()) {
    ++misses_;
    return std::nullopt;
  }
  ++hits_;
  lru_.splice(lru_.begin(), lru_, it->second.age);
  return it->second.logit;
}

size_t ScoreCache::insert(std::span<const int32_t> ids, float logit) {
  std::string key = identity_key(ids);
  const size_t cost = key.size() + kEntryOverhead;
  if (cost > max_bytes_) return 0;
  std::lock_guard lock(mutex_);
  if (const auto it = entries_.find(key); it != entries_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.age);  // scored twice (two requests in two passes): same logit
    return 0;
  }
  size_t evicted = 0;
  while (bytes_ + cost > max_bytes_) {
    const std::string* oldest = lru_.back();
    bytes_ -= oldest->size() + kEntryOverhead;
    lru_.pop_back();
    entries_.erase(*oldest);
    ++evicted;
  }
  const auto it = entries_.emplace(std::move(key), Entry{logit, {}}).first;
  lru_.push_front(&it->first);
  it->second.age = lru_.begin();
  bytes_ += cost;
  evictions_ += evicted;
  return evicted;
}

ScoreCache::Stats ScoreCache::stats() const {
  std::lock_guard lock(mutex_);
  return {hits_, misses_, evictions_, entries_.size(), bytes_, max_bytes_};
}

}  // namespace rerankd
