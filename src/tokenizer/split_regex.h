#pragma once
// A pre-tokenizer's Unicode regex (tokenizer.json's Split `{"Regex": ...}`, ByteLevel's GPT-2
// pattern) through PCRE2 with UTF and Unicode properties (\p{L}, \s as Unicode whitespace), JIT
// compiled where PCRE2 can. The tokenizers library runs these patterns through Oniguruma; the
// syntax the known patterns use ((?i:...), \p{..}, classes, (?!...)) means the same in both, and
// tests compare the two on every kind of character (tests/unit/byte_level_bpe_test.cpp).
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rerankd {

class SplitRegex {
 public:
  // Throws Error(kModelFormat) "<file>: field '<where>' ..." when PCRE2 cannot compile it.
  SplitRegex(const std::string& pattern, const std::string& file, const std::string& where);
  ~SplitRegex();
  SplitRegex(SplitRegex&&) noexcept;
  SplitRegex& operator=(SplitRegex&&) noexcept;

  // Behavior "Isolated": each match and each stretch between matches is a piece, in order, as
  // [begin, end) byte offsets into `text` plus `offset`. Empty pieces are left out. `text` must be
  // valid UTF-8 (the caller checks once). Thread-safe.
  void split(std::string_view text, size_t offset, std::vector<std::pair<size_t, size_t>>& pieces) const;

 private:
  struct Code;
  std::unique_ptr<Code> code_;
};

// The regex that GPT-2's ByteLevel pre-tokenizer (use_regex: true) splits with.
extern const char* const kGpt2SplitPattern;

}  // namespace rerankd
