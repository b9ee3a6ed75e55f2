#pragma once
// The tokenizers library's BPE model over byte-level pre-tokens: each byte starts as the vocabulary
// entry of its byte-level character, then adjacent pairs merge by rank, the lowest-ranked pair in
// the word first and the leftmost among equals, until no pair of the word has a merge.
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rerankd {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using Vocab = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

struct BpeOptions {
  std::optional<std::string> unk_token;  // for bytes whose character the vocabulary lacks; else they are dropped
  bool fuse_unk = false;                 // consecutive unknown bytes give one unk id
  bool ignore_merges = false;            // a pre-token that is itself in the vocabulary is one id
};

// One id of a pre-token, with the bytes [begin, end) of the pre-token it stands for.
struct BpePiece {
  int32_t id;
  uint32_t begin, end;
};

class BpeModel {
 public:
  // merges: (left, right) by rank, lowest first. Throws Error(kModelFormat) naming `file` and the
  // field ('model.merges[i]', 'model.unk_token') when a merge or the unk token is not in the vocabulary.
  BpeModel(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
           const std::string& file);
  ~BpeModel();
  BpeModel(BpeModel&&) noexcept;
  BpeModel& operator=(BpeModel&&) noexcept;

  // Appends the pieces of one pre-token given as its raw bytes (mapped to byte-level characters
  // here). Thread-safe: words are cached under a lock.
  void encode(std::string_view pre_token, std::vector<BpePiece>& out) const;

  std::optional<int32_t> token_id(std::string_view token) const;
  int32_t max_id() const { return max_id_; }

 private:
  void merge(std::string_view pre_token, std::vector<BpePiece>& out) const;

  Vocab vocab_;
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;  // (left id, right id) -> (rank, merged id)
  std::array<int32_t, 256> byte_ids_{};                               // -1: the byte's character is not in the vocabulary
  BpeOptions options_;
  int32_t unk_id_ = -1;
  int32_t max_id_ = -1;
  struct Cache;
  std::unique_ptr<Cache> cache_;
};

}  // namespace rerankd
