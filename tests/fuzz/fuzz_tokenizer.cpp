// The tokenizer on any bytes (the HTTP layer validates UTF-8, but `rerankd score` and a future
// caller may not): encode() and encode_pair() with truncation on either side must return ids in
// the vocabulary, never more than max_length, with the pair template intact; or throw Error.
//
// Input: byte 0 picks max_length (4..259) and the side, byte 1 splits the rest into query and
// document. The model is the test suite's sentencepiece model, $RERANKD_TESTDATA/spm.
#include <cstdlib>
#include <memory>
#include <string>

#include "common/error.h"
#include "fuzz_support.h"
#include "tokenizer/xlmr_tokenizer.h"

namespace {

const rerankd::XlmrTokenizer& tokenizer() {
  static const auto* tok = [] {
    const char* data = std::getenv("RERANKD_TESTDATA");
    const std::string root = data != nullptr ? data : RERANKD_DEFAULT_TESTDATA;
    return new rerankd::XlmrTokenizer(root + "/spm/sentencepiece.bpe.model");
  }();
  return *tok;
}

void check_ids(const std::vector<int32_t>& ids) {
  const int32_t max_id = tokenizer().max_id();
  for (int32_t id : ids) {
    if (id < 0 || id > max_id) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rerankd;
  if (size < 2) return 0;
  const size_t max_length = 4 + (data[0] >> 1);
  const TruncationSide side = (data[0] & 1) != 0 ? TruncationSide::kLeft : TruncationSide::kRight;
  const std::string_view rest = fuzz::as_text(data + 2, size - 2);
  const size_t split = std::min<size_t>(data[1], rest.size());
  const std::string_view query = rest.substr(0, split), document = rest.substr(split);
  try {
    check_ids(tokenizer().encode(rest));
    const EncodedPair pair = tokenizer().encode_pair(query, document, max_length, side);
    check_ids(pair.ids);
    const auto& ids = pair.ids;
    if (ids.size() > max_length || ids.size() < XlmrTokenizer::kPairSpecialTokens) __builtin_trap();
    if (ids.front() != XlmrTokenizer::kBos || ids.back() != XlmrTokenizer::kEos) __builtin_trap();
  } catch (const Error&) {
  }
  return 0;
}
