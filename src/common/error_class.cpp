#include "common/error_class.h"

#include <array>

namespace rerankd {

namespace {

using K = Error::Kind;

// Rows in the enum's order: error_class indexes by Kind.
constexpr std::array<ErrorClass, 14> kClasses{{
    {K::kInvalidInput, "invalid_input", 400, "validation", false, false, kExitUsage},
    {K::kUnauthorized, "unauthorized", 401, "unauthorized", false, false, kExitUsage},
    {K::kNotFound, "not_found", 404, "not_found", false, false, kExitUsage},
    {K::kMethodNotAllowed, "method_not_allowed", 405, "method_not_allowed", false, false, kExitUsage},
    {K::kTooLarge, "too_large", 413, "payload_too_large", false, false, kExitUsage},
    {K::kHeadersTooLarge, "headers_too_large", 431, "payload_too_large", false, false, kExitUsage},
    // Well-formed JSON that cannot be used (wrong types, too long with truncation off): TEI
    // answers these 422 with "validation" too.
    {K::kUnprocessable, "unprocessable", 422, "validation", false, false, kExitUsage},
    // A model file or I/O failure at request time is the server's fault, not the caller's; so is
    // a bug. The three share 500, which a client reads as kInternal.
    {K::kModelFormat, "model_format", 500, "backend", false, false, kExitFailure},
    {K::kIo, "io", 500, "backend", false, false, kExitFailure},
    {K::kOverloaded, "overloaded", 429, "overloaded", true, true, kExitFailure},
    // The server is not busy: this client sent too much. Its own type, so that a client (and a
    // person reading the answer) can tell the two 429s apart.
    {K::kRateLimited, "rate_limited", 429, "rate_limited", true, true, kExitFailure},
    {K::kTimeout, "timeout", 504, "timeout", true, false, kExitFailure},
    {K::kUnavailable, "unavailable", 503, "unhealthy", true, false, kExitFailure},
    {K::kInternal, "internal", 500, "backend", false, false, kExitBug},
}};

constexpr bool in_enum_order() {
  for (size_t i = 0; i < kClasses.size(); ++i) {
    if (static_cast<size_t>(kClasses[i].kind) != i) return false;
  }
  return static_cast<size_t>(K::kInternal) + 1 == kClasses.size();
}
static_assert(in_enum_order(), "one row per Kind, in the enum's order");

}  // namespace

std::span<const ErrorClass> error_classes() noexcept { return kClasses; }

const ErrorClass& error_class(Error::Kind kind) noexcept {
  const auto i = static_cast<size_t>(kind);
  return i < kClasses.size() ? kClasses[i] : kClasses.back();
}

Error::Kind kind_for_status(unsigned status) noexcept {
  if (status == 500) return K::kInternal;
  if (status == 429) return K::kOverloaded;  // one status for both: a client waits and resends either way
  for (const ErrorClass& c : kClasses) {
    if (c.http_status == status) return c.kind;
  }
  if (status == 408) return K::kTimeout;
  return status >= 400 && status < 500 ? K::kInvalidInput : K::kInternal;
}

}  // namespace rerankd
