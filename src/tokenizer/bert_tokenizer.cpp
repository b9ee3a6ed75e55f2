#include "tokenizer/bert_tokenizer.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <fstream>

#include "common/error.h"

namespace rerankd {
namespace {

// BertTokenizer's character classes, by Unicode general category (ICU's tables).
bool is_control(UChar32 c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;  // whitespace, not control
  switch (u_charType(c)) {
    case U_CONTROL_CHAR: case U_FORMAT_CHAR: case U_UNASSIGNED: case U_PRIVATE_USE_CHAR: case U_SURROGATE:
      return true;
    default:
      return false;
  }
}

bool is_whitespace(UChar32 c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || u_charType(c) == U_SPACE_SEPARATOR;
}

// ASCII symbols such as $ ^ ` count as punctuation too, as in HF's _is_punctuation.
bool is_punctuation(UChar32 c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  switch (u_charType(c)) {
    case U_DASH_PUNCTUATION: case U_START_PUNCTUATION: case U_END_PUNCTUATION: case U_CONNECTOR_PUNCTUATION:
    case U_OTHER_PUNCTUATION: case U_INITIAL_PUNCTUATION: case U_FINAL_PUNCTUATION:
      return true;
    default:
      return false;
  }
}

// The CJK Unified Ideographs blocks BERT's Chinese vocabulary covers (not kana or hangul).
bool is_cjk(UChar32 c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

const icu::Normalizer2& normalizer(bool decompose) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n =
      decompose ? icu::Normalizer2::getNFDInstance(status) : icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status) || n == nullptr) throw Error(Error::Kind::kInternal, "ICU normalizer unavailable");
  return *n;
}

icu::UnicodeString normalized(const icu::UnicodeString& s, bool decompose) {
  UErrorCode status = U_ZERO_ERROR;
  icu::UnicodeString out = normalizer(decompose).normalize(s, status);
  if (U_FAILURE(status)) throw Error(Error::Kind::kInternal, "ICU normalization failed");
  return out;
}

// A word's final form: lower-cased (Python's str.lower: full case mapping, final sigma), accents
// stripped (NFD, then combining marks dropped), then cut at each punctuation character.
void finish_word(icu::UnicodeString word, const BasicTokenizerOptions& o, std::vector<std::string>& out) {
  if (o.lower_case) word.toLower(icu::Locale::getRoot());
  if (o.strip_accents) word = normalized(word, true);
  std::string current;
  auto flush = [&] {
    if (!current.empty()) out.push_back(std::move(current));
    current.clear();
  };
  for (int32_t i = 0; i < word.length(); i = word.moveIndex32(i, 1)) {
    const UChar32 c = word.char32At(i);
    if (o.strip_accents && u_charType(c) == U_NON_SPACING_MARK) continue;
    if (is_punctuation(c)) {
      flush();
      icu::UnicodeString(c).toUTF8String(current);
      flush();
    } else {
      icu::UnicodeString(c).toUTF8String(current);
    }
  }
  flush();
}

}  // namespace

std::vector<std::string> basic_tokenize(std::string_view text, const BasicTokenizerOptions& options) {
  // Clean (drop NUL, U+FFFD and control characters, whitespace becomes a space) and put spaces
  // around CJK characters, which are words of their own.
  icu::UnicodeString cleaned;
  const auto* bytes = reinterpret_cast<const uint8_t*>(text.data());
  const auto n = static_cast<int32_t>(text.size());
  for (int32_t i = 0; i < n;) {
    UChar32 c = 0;
    U8_NEXT(bytes, i, n, c);
    if (c <= 0 || c == 0xFFFD || is_control(c)) continue;  // invalid UTF-8 reads as c < 0
    if (is_whitespace(c)) {
      cleaned.append(static_cast<UChar32>(' '));
    } else if (options.split_chinese && is_cjk(c)) {
      cleaned.append(static_cast<UChar32>(' ')).append(c).append(static_cast<UChar32>(' '));
    } else {
      cleaned.append(c);
    }
  }
  // BertTokenizer composes (NFC) before splitting, so "e\u0301" and "é" are the same word.
  const icu::UnicodeString composed = normalized(cleaned, false);
  std::vector<std::string> words;
  int32_t start = -1;
  for (int32_t i = 0; i <= composed.length(); i = i < composed.length() ? composed.moveIndex32(i, 1) : i + 1) {
    // Python's str.split() separates at every White_Space character (U+2028 too).
    const bool space = i == composed.length() || u_isUWhiteSpace(composed.char32At(i));
    if (space && start >= 0) {
      finish_word(icu::UnicodeString(composed, start, i - start), options, words);
      start = -1;
    } else if (!space && start < 0) {
      start = i;
    }
  }
  return words;
}

BertTokenizer::BertTokenizer(const std::filesystem::path& vocab_txt, const TokenizerFiles& files) {
  if (!std::filesystem::is_regular_file(vocab_txt)) {
    throw Error(Error::Kind::kIo, vocab_txt.string() + ": missing or not a regular file (the WordPiece "
                                                                "vocabulary is required)");
  }
  std::ifstream in(vocab_txt, std::ios::binary);
  if (!in) throw Error(Error::Kind::kIo, vocab_txt.string() + ": cannot open");
  std::string line;
  // One token a line, its id the line number; as HF's load_vocab, only the newline is stripped
  // and a repeated token keeps its last line.
  for (int32_t id = 0; std::getline(in, line); ++id) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    vocab_[line] = id;
    vocab_max_id_ = id;
  }
  auto require = [&](const char* token) {
    const auto it = vocab_.find(token);
    if (it == vocab_.end()) throw Error(Error::Kind::kModelFormat, vocab_txt.string() + ": no " + token + " token");
    return it->second;
  };
  cls_ = require("[CLS]");
  sep_ = require("[SEP]");
  unk_ = require("[UNK]");

  options_.lower_case = files.do_lower_case.value_or(true);
  options_.strip_accents = files.strip_accents.value_or(options_.lower_case);
  options_.split_chinese = files.tokenize_chinese_chars.value_or(true);

  std::vector<AddedToken> added = files.added_tokens;
  if (added.empty()) {
    // BertTokenizer's special tokens, with vocab.txt's ids.
    for (const char* t : {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}) {
      if (const auto it = vocab_.find(t); it != vocab_.end()) added.push_back({t, it->second});
    }
  }
  added_ = std::make_unique<AddedTokenSplitter>(std::move(added));
}

BertTokenizer::~BertTokenizer() = default;

void BertTokenizer::word_piece(const std::string& word, std::vector<int32_t>& ids) const {
  // Codepoint boundaries: pieces never split a character.
  std::vector<int32_t> bounds;
  const auto* bytes = reinterpret_cast<const uint8_t*>(word.data());
  const auto n = static_cast<int32_t>(word.size());
  for (int32_t i = 0; i < n;) {
    bounds.push_back(i);
    U8_FWD_1(bytes, i, n);
  }
  bounds.push_back(n);
  if (bounds.size() - 1 > kMaxCharsPerWord) {
    ids.push_back(unk_);
    return;
  }
  const size_t first = ids.size();
  std::string piece;
  for (size_t start = 0; start + 1 < bounds.size();) {
    size_t end = bounds.size() - 1;
    int32_t found = -1;
    for (; end > start; --end) {
      piece.assign(start > 0 ? "##" : "");
      piece.append(word, static_cast<size_t>(bounds[start]), static_cast<size_t>(bounds[end] - bounds[start]));
      if (const auto it = vocab_.find(piece); it != vocab_.end()) {
        found = it->second;
        break;
      }
    }
    if (found < 0) {  // some part matches nothing: the whole word is unknown
      ids.resize(first);
      ids.push_back(unk_);
      return;
    }
    ids.push_back(found);
    start = end;
  }
}

std::vector<int32_t> BertTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  for (const TextSegment& s : added_->split(text)) {
    if (s.token_id >= 0) {
      ids.push_back(s.token_id);
      continue;
    }
    for (const std::string& word : basic_tokenize(s.text, options_)) word_piece(word, ids);
  }
  return ids;
}

EncodedPair BertTokenizer::apply_pair_template(const std::vector<int32_t>& query,
                                               const std::vector<int32_t>& document) const {
  EncodedPair out;
  out.ids.reserve(query.size() + document.size() + kPairSpecialTokens);
  out.ids.push_back(cls_);
  out.ids.insert(out.ids.end(), query.begin(), query.end());
  out.ids.push_back(sep_);
  out.type_ids.assign(out.ids.size(), 0);
  out.ids.insert(out.ids.end(), document.begin(), document.end());
  out.ids.push_back(sep_);
  out.type_ids.resize(out.ids.size(), 1);
  return out;
}

int32_t BertTokenizer::max_id() const { return std::max(vocab_max_id_, added_->max_id()); }

}  // namespace rerankd
