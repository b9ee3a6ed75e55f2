#include "tokenizer/added_tokens.h"

#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include <algorithm>

namespace rerankd {
namespace {

// Unicode White_Space, what Rust's char::is_whitespace (the fast tokenizer's lstrip/rstrip) uses.
bool is_white_space(UChar32 c) { return c >= 0 && u_hasBinaryProperty(c, UCHAR_WHITE_SPACE); }

// Rust regex's Unicode \w, which the tokenizers library's single_word test (`\w$`, `^\w`) uses.
bool is_word_character(UChar32 c) {
  if (c < 0) return false;
  const int8_t type = u_charType(c);
  return u_hasBinaryProperty(c, UCHAR_ALPHABETIC) || type == U_NON_SPACING_MARK || type == U_ENCLOSING_MARK ||
         type == U_COMBINING_SPACING_MARK || type == U_DECIMAL_DIGIT_NUMBER || type == U_CONNECTOR_PUNCTUATION ||
         u_hasBinaryProperty(c, UCHAR_JOIN_CONTROL);
}

bool word_character_before(std::string_view text, size_t at) {
  if (at == 0) return false;
  auto i = static_cast<int32_t>(at);
  UChar32 c = 0;
  U8_PREV(reinterpret_cast<const uint8_t*>(text.data()), 0, i, c);
  return is_word_character(c);
}

bool word_character_at(std::string_view text, size_t at) {
  if (at >= text.size()) return false;
  auto i = static_cast<int32_t>(at);
  UChar32 c = 0;
  U8_NEXT(reinterpret_cast<const uint8_t*>(text.data()), i, static_cast<int32_t>(text.size()), c);
  return is_word_character(c);
}

size_t whitespace_start_before(std::string_view text, size_t end, size_t floor) {
  int32_t i = static_cast<int32_t>(end);
  while (static_cast<size_t>(i) > floor) {
    int32_t prev = i;
    UChar32 c = 0;
    U8_PREV(reinterpret_cast<const uint8_t*>(text.data()), static_cast<int32_t>(floor), prev, c);
    if (!is_white_space(c)) break;
    i = prev;
  }
  return static_cast<size_t>(i);
}

size_t whitespace_end_after(std::string_view text, size_t begin) {
  int32_t i = static_cast<int32_t>(begin);
  const auto n = static_cast<int32_t>(text.size());
  while (i < n) {
    int32_t next = i;
    UChar32 c = 0;
    U8_NEXT(reinterpret_cast<const uint8_t*>(text.data()), next, n, c);
    if (!is_white_space(c)) break;
    i = next;
  }
  return static_cast<size_t>(i);
}

}  // namespace

AddedTokenSplitter::AddedTokenSplitter(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
  std::erase_if(tokens_, [](const AddedToken& t) { return t.content.empty(); });
  for (const AddedToken& t : tokens_) {
    if (first_bytes_.find(t.content[0]) == std::string::npos) first_bytes_ += t.content[0];
  }
}

int32_t AddedTokenSplitter::max_id() const {
  int32_t m = -1;
  for (const AddedToken& t : tokens_) m = std::max(m, t.id);
  return m;
}

std::vector<TextSegment> AddedTokenSplitter::split(std::string_view text) const {
  std::vector<TextSegment> out;
  size_t segment_start = 0;  // where the text not yet handed out begins
  size_t i = text.find_first_of(first_bytes_);
  while (i != std::string_view::npos) {
    const AddedToken* match = nullptr;
    for (const AddedToken& t : tokens_) {
      if (text.substr(i).starts_with(t.content) && (match == nullptr || t.content.size() > match->content.size())) {
        match = &t;
      }
    }
    if (match == nullptr) {
      i = text.find_first_of(first_bytes_, i + 1);
      continue;
    }
    const size_t match_end = i + match->content.size();
    if (match->single_word && (word_character_before(text, i) || word_character_at(text, match_end))) {
      i = match_end < text.size() ? text.find_first_of(first_bytes_, match_end) : std::string_view::npos;
      continue;
    }
    // Whitespace an earlier token swallowed on its right is not swallowed twice.
    const size_t start = match->lstrip ? whitespace_start_before(text, i, segment_start) : i;
    size_t stop = i + match->content.size();
    if (match->rstrip) stop = whitespace_end_after(text, stop);
    if (start > segment_start) out.push_back({text.substr(segment_start, start - segment_start), -1});
    out.push_back({text.substr(i, match->content.size()), match->id});
    segment_start = stop;
    i = stop < text.size() ? text.find_first_of(first_bytes_, stop) : std::string_view::npos;
  }
  if (segment_start < text.size()) out.push_back({text.substr(segment_start), -1});
  return out;
}

}  // namespace rerankd
