#pragma once
// Hugging Face's added tokens: strings (the special tokens <s>, </s>, [SEP], ...) that are cut out
// of a text before its sub-word model sees it and become their own ids, so that "<s>" written in
// an HTML page is the id of <s>, as the Hugging Face tokenizer gives it.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rerankd {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool lstrip = false;  // also swallows the whitespace on its left (XLM-R's <mask>)
  bool rstrip = false;  // ... and on its right
  bool single_word = false;  // matches only where no word character touches it on either side
  // Matched in the normalized text (tokenizer.json's `normalized`), else in the raw text; the
  // splitter itself does not look at this, its owner picks which tokens each splitter gets.
  bool normalized = false;
  bool special = false;  // recorded; tokenizers skips special tokens only when asked to, which we never are
};

struct TextSegment {
  std::string_view text;  // a piece of the input for the sub-word model, when token_id < 0,
  int32_t token_id = -1;  // else the added token found here (text: its bytes, for offsets)
};

class AddedTokenSplitter {
 public:
  explicit AddedTokenSplitter(std::vector<AddedToken> tokens);

  // The text cut at every added token, leftmost match first and the longest at one place (the
  // tokenizers library's rule); whitespace an lstrip/rstrip token swallows is in no segment.
  // A single_word token with a word character beside it is no match, and, as in the library's
  // Aho-Corasick scan, no other token is looked for inside the text it covered.
  // Empty text pieces are left out.
  std::vector<TextSegment> split(std::string_view text) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  int32_t max_id() const;

 private:
  std::vector<AddedToken> tokens_;
  std::string first_bytes_;  // each token's first byte, to skip positions no token starts at
};

}  // namespace rerankd
