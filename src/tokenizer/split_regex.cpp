#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/split_regex.h"

#include <pcre2.h>

#include "common/error.h"

namespace rerankd {

const char* const kGpt2SplitPattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct SplitRegex::Code {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Code() { pcre2_code_free(code); }
};

namespace {

struct MatchData {
  pcre2_match_data* data;
  explicit MatchData(const pcre2_code* code) : data(pcre2_match_data_create_from_pattern(code, nullptr)) {
    if (data == nullptr) throw std::bad_alloc();
  }
  ~MatchData() { pcre2_match_data_free(data); }
  MatchData(const MatchData&) = delete;
  MatchData& operator=(const MatchData&) = delete;
};

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

SplitRegex::SplitRegex(const std::string& pattern, const std::string& file, const std::string& where)
    : code_(std::make_unique<Code>()) {
  int error = 0;
  PCRE2_SIZE error_offset = 0;
  code_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
                              &error, &error_offset, nullptr);
  if (code_->code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    throw Error(Error::Kind::kModelFormat, file + ": field '" + where + "' is not a regex this server can run (" +
                                               reinterpret_cast<const char*>(message) + " at offset " +
                                               std::to_string(error_offset) + ")");
  }
  // Without JIT (a build or CPU PCRE2 lacks it for) the interpreter gives the same matches, slower.
  code_->jit = pcre2_jit_compile(code_->code, PCRE2_JIT_COMPLETE) == 0;
}

SplitRegex::~SplitRegex() = default;
SplitRegex::SplitRegex(SplitRegex&&) noexcept = default;
SplitRegex& SplitRegex::operator=(SplitRegex&&) noexcept = default;

void SplitRegex::split(std::string_view text, size_t offset, std::vector<std::pair<size_t, size_t>>& pieces) const {
  MatchData match(code_->code);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t done = 0;  // text before this is handed out
  size_t from = 0;
  while (from < text.size()) {
    const int rc = code_->jit ? pcre2_jit_match(code_->code, subject, text.size(), from, PCRE2_NO_UTF_CHECK,
                                                match.data, nullptr)
                              : pcre2_match(code_->code, subject, text.size(), from, PCRE2_NO_UTF_CHECK, match.data,
                                            nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      throw Error(Error::Kind::kInternal, std::string("tokenizer: pre-tokenizer regex failed (") +
                                              reinterpret_cast<const char*>(message) + ")");
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.data);
    const size_t begin = ovector[0];
    const size_t end = ovector[1];
    if (end == begin) {  // an empty match splits nothing; step over one character, as Oniguruma does
      from = begin + 1;
      while (from < text.size() && is_continuation(text[from])) ++from;
      continue;
    }
    if (begin > done) pieces.emplace_back(offset + done, offset + begin);
    pieces.emplace_back(offset + begin, offset + end);
    done = from = end;
  }
  if (done < text.size()) pieces.emplace_back(offset + done, offset + text.size());
}

}  // namespace rerankd
