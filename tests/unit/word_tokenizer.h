#pragma once
// A tokenizer for scheduling tests: one id per space-separated word, an XLM-R-like pair template
// (<s> query </s></s> document </s>), and a count of the documents it was asked to encode, so a
// test can tell how far a refused request was tokenized. Token counts are exact by construction:
// "w w w" is 3 tokens.
#include <atomic>
#include <string_view>
#include <vector>

#include "tokenizer/pair_tokenizer.h"

namespace rerankd::testing {

class WordTokenizer final : public PairTokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text) const override {
    if (text.starts_with("doc")) ++documents_encoded;
    std::vector<int32_t> ids;
    size_t word = 0;
    for (size_t i = 0; i <= text.size(); ++i) {
      if (i == text.size() || text[i] == ' ') {
        if (i > word) ids.push_back(10 + static_cast<int32_t>((i - word) % 50));
        word = i + 1;
      }
    }
    return ids;
  }
  size_t pair_special_tokens() const override { return 4; }
  EncodedPair apply_pair_template(const std::vector<int32_t>& query, const std::vector<int32_t>& document) const override {
    EncodedPair pair;
    pair.ids.push_back(0);
    pair.ids.insert(pair.ids.end(), query.begin(), query.end());
    pair.ids.insert(pair.ids.end(), {2, 2});
    pair.ids.insert(pair.ids.end(), document.begin(), document.end());
    pair.ids.push_back(2);
    return pair;
  }
  int32_t max_id() const override { return 100; }

  // Texts starting with "doc" that encode() was called on.
  mutable std::atomic<size_t> documents_encoded{0};
};

// A document of `words` words, counted by WordTokenizer; `tag` keeps documents apart.
inline std::string words_doc(size_t words, size_t tag = 0) {
  std::string s = "doc" + std::to_string(tag);
  for (size_t i = 1; i < words; ++i) s += " w";
  return s;
}

}  // namespace rerankd::testing
