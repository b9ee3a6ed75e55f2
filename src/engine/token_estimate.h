#pragma once
// How many tokens a pair of texts makes at the least, from their bytes, before they are tokenized:
// what lets admission refuse a request that cannot be admitted without paying for its
// tokenization. Learnt from the pairs encoded lately: the sparsest of the last kWindow (the fewest
// tokens per byte of query and document) stands for any text. Not a proof (a text sparser than
// any seen lately makes fewer tokens than this says), so a pair is never estimated above
// max_length and a request refused on the estimate is told to retry (429), never that it is too
// large. A whitespace run or a truncated pair makes the sparsest ratio small, which only makes
// the estimate more cautious until kWindow pairs have passed.
#include <array>
#include <atomic>
#include <cstddef>

namespace rerankd {

class TokenEstimate {
 public:
  static constexpr size_t kWindow = 64;

  // `special` tokens of every pair; `max_length` caps any pair's tokens.
  TokenEstimate(size_t special, size_t max_length) : special_(special), max_length_(max_length) {}

  // A pair of `text_bytes` bytes of query and document encoded to `tokens` tokens in all. Any
  // thread.
  void learn(size_t text_bytes, size_t tokens);

  // The tokens of one pair of `text_bytes` bytes of text, at the least; just the special tokens
  // until kWindow pairs have been learnt.
  size_t at_least(size_t text_bytes) const;

 private:
  const size_t special_;
  const size_t max_length_;
  std::array<std::atomic<float>, kWindow> ratios_{};  // text tokens per byte
  std::atomic<size_t> learnt_{0};
};

}  // namespace rerankd
