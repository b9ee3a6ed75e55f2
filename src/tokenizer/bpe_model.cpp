#include "tokenizer/bpe_model.h"

#include <algorithm>
#include <mutex>
#include <queue>
#include <shared_mutex>

#include "common/error.h"
#include "tokenizer/byte_level.h"

namespace rerankd {
namespace {

// Longer words are merged each time: a cache keyed by them would hold little that repeats.
constexpr size_t kCachedWordBytes = 256;
constexpr size_t kCacheEntries = 10000;

uint64_t pair_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

}  // namespace

// Words seen before, as the tokenizers library keeps them: filled until full, never evicted, so a
// flood of distinct words costs a bounded amount of memory and no churn.
struct BpeModel::Cache {
  mutable std::shared_mutex mutex;
  std::unordered_map<std::string, std::vector<BpePiece>, StringHash, std::equal_to<>> words;
};

BpeModel::BpeModel(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
                   const std::string& file)
    : vocab_(std::move(vocab)), options_(std::move(options)), cache_(std::make_unique<Cache>()) {
  for (const auto& [token, id] : vocab_) max_id_ = std::max(max_id_, id);
  const auto& chars = byte_level_chars();
  for (size_t b = 0; b < 256; ++b) {
    const auto it = vocab_.find(chars[b]);
    byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
  }
  if (options_.unk_token) {
    const auto it = vocab_.find(*options_.unk_token);
    if (it == vocab_.end()) {
      throw Error(Error::Kind::kModelFormat, file + ": field 'model.unk_token' names '" + *options_.unk_token +
                                                 "', which is not in model.vocab");
    }
    unk_id_ = it->second;
  }
  const auto id_of = [&](const std::string& token, size_t rank) {
    const auto it = vocab_.find(token);
    if (it == vocab_.end()) {
      throw Error(Error::Kind::kModelFormat, file + ": field 'model.merges[" + std::to_string(rank) + "]' uses '" +
                                                 token + "', which is not in model.vocab");
    }
    return it->second;
  };
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const int32_t left_id = id_of(left, rank);
    const int32_t right_id = id_of(right, rank);
    const int32_t merged_id = id_of(left + right, rank);
    // A merge listed twice keeps its last rank, as the library's map of merges does.
    merges_[pair_key(left_id, right_id)] = {static_cast<int32_t>(rank), merged_id};
  }
}

BpeModel::~BpeModel() = default;
BpeModel::BpeModel(BpeModel&&) noexcept = default;
BpeModel& BpeModel::operator=(BpeModel&&) noexcept = default;

std::optional<int32_t> BpeModel::token_id(std::string_view token) const {
  const auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

void BpeModel::encode(std::string_view pre_token, std::vector<BpePiece>& out) const {
  if (pre_token.empty()) return;
  if (options_.ignore_merges) {
    if (const auto id = token_id(to_byte_level(pre_token))) {
      out.push_back({*id, 0, static_cast<uint32_t>(pre_token.size())});
      return;
    }
  }
  if (pre_token.size() > kCachedWordBytes) {
    merge(pre_token, out);
    return;
  }
  {
    std::shared_lock lock(cache_->mutex);
    if (const auto it = cache_->words.find(pre_token); it != cache_->words.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = out.size();
  merge(pre_token, out);
  std::unique_lock lock(cache_->mutex);
  if (cache_->words.size() < kCacheEntries) {
    cache_->words.emplace(std::string(pre_token), std::vector<BpePiece>(out.begin() + static_cast<std::ptrdiff_t>(first), out.end()));
  }
}

void BpeModel::merge(std::string_view pre_token, std::vector<BpePiece>& out) const {
  struct Symbol {
    int32_t id;
    int32_t prev, next;  // neighbours still in the word; -1 at the ends
    uint32_t begin, end;
    bool gone = false;   // merged into its left neighbour
  };
  std::vector<Symbol> symbols;
  symbols.reserve(pre_token.size());
  const auto add = [&](int32_t id, uint32_t begin, uint32_t end) {
    const auto index = static_cast<int32_t>(symbols.size());
    if (index > 0) symbols.back().next = index;
    symbols.push_back({id, index - 1, -1, begin, end});
  };
  // Bytes the vocabulary lacks become the unk id (one per byte, or one per run with fuse_unk), or
  // nothing when the model has no unk token, as in the library.
  bool in_unk_run = false;
  for (uint32_t i = 0; i < pre_token.size(); ++i) {
    const int32_t id = byte_ids_[static_cast<unsigned char>(pre_token[i])];
    if (id >= 0) {
      add(id, i, i + 1);
      in_unk_run = false;
    } else if (unk_id_ >= 0) {
      if (in_unk_run && options_.fuse_unk) symbols.back().end = i + 1;
      else add(unk_id_, i, i + 1);
      in_unk_run = true;
    }
  }

  struct Candidate {
    int32_t rank, pos, merged;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  const auto offer = [&](int32_t pos) {
    const int32_t next = symbols[static_cast<size_t>(pos)].next;
    if (next < 0) return;
    const auto it = merges_.find(pair_key(symbols[static_cast<size_t>(pos)].id, symbols[static_cast<size_t>(next)].id));
    if (it != merges_.end()) queue.push({it->second.first, pos, it->second.second});
  };
  for (int32_t pos = 0; pos + 1 < static_cast<int32_t>(symbols.size()); ++pos) offer(pos);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[static_cast<size_t>(top.pos)];
    // Entries go stale when either side merged since: the pair now there must still be this merge.
    if (left.gone || left.next < 0) continue;
    Symbol& right = symbols[static_cast<size_t>(left.next)];
    const auto it = merges_.find(pair_key(left.id, right.id));
    if (it == merges_.end() || it->second.second != top.merged) continue;
    left.id = top.merged;
    left.end = right.end;
    right.gone = true;
    left.next = right.next;
    if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = top.pos;
    if (left.prev >= 0) offer(left.prev);
    offer(top.pos);
  }
  for (const Symbol& s : symbols) {
    if (!s.gone) out.push_back({s.id, s.begin, s.end});
  }
}

}  // namespace rerankd
