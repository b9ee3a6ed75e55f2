#include "common/error.h"

namespace rerankd {

const char* to_string(Error::Kind kind) noexcept {
  switch (kind) {
    case Error::Kind::kInvalidInput: return "invalid_input";
    case Error::Kind::kTooLarge: return "too_large";
    case Error::Kind::kUnprocessable: return "unprocessable";
    case Error::Kind::kModelFormat: return "model_format";
    case Error::Kind::kIo: return "io";
    case Error::Kind::kOverloaded: return "overloaded";
    case Error::Kind::kTimeout: return "timeout";
    case Error::Kind::kUnavailable: return "unavailable";
    case Error::Kind::kInternal: return "internal";
  }
  return "internal";
}

}  // namespace rerankd
