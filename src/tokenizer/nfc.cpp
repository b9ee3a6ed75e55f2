#include "tokenizer/nfc.h"

#include <unicode/bytestream.h>
#include <unicode/edits.h>
#include <unicode/normalizer2.h>

#include "common/error.h"

namespace rerankd {
namespace {

const icu::Normalizer2& nfc() {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status) || n == nullptr) {
    throw Error(Error::Kind::kInternal, std::string("ICU has no NFC data (") + u_errorName(status) + ")");
  }
  return *n;
}

}  // namespace

bool is_nfc(std::string_view text) {
  UErrorCode status = U_ZERO_ERROR;
  const bool yes = nfc().isNormalizedUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size())), status);
  return U_SUCCESS(status) && yes;
}

std::string to_nfc(std::string_view text, std::vector<std::pair<uint32_t, uint32_t>>* source) {
  std::string out;
  icu::StringByteSink<std::string> sink(&out, static_cast<int32_t>(text.size()));
  icu::Edits edits;
  UErrorCode status = U_ZERO_ERROR;
  nfc().normalizeUTF8(0, icu::StringPiece(text.data(), static_cast<int32_t>(text.size())), sink,
                      source != nullptr ? &edits : nullptr, status);
  if (U_FAILURE(status)) {
    throw Error(Error::Kind::kInternal, std::string("tokenizer: NFC failed (") + u_errorName(status) + ")");
  }
  if (source == nullptr) return out;
  source->clear();
  source->reserve(out.size());
  icu::Edits::Iterator it = edits.getCoarseIterator();
  while (it.next(status)) {
    const auto src = static_cast<uint32_t>(it.sourceIndex());
    if (it.hasChange()) {
      const auto stretch = std::make_pair(src, src + static_cast<uint32_t>(it.oldLength()));
      for (int32_t i = 0; i < it.newLength(); ++i) source->push_back(stretch);
    } else {
      for (int32_t i = 0; i < it.oldLength(); ++i) source->emplace_back(src + i, src + i + 1);
    }
  }
  return out;
}

}  // namespace rerankd
