#pragma once
// The one table of what an Error's Kind means at each edge: the HTTP status and error_type the
// server answers with, whether a client may resend, whether the answer carries Retry-After, and
// the CLI's exit status. The server, the client library and the CLI all read it; nothing else
// maps Kinds to statuses.
#include <span>
#include <string_view>

#include "common/error.h"

namespace rerankd {

// CLI exit statuses (besides 0). A usage error is the caller's to fix; a failure is the
// environment's (a model file, the network, a busy server); a bug is ours (sysexits' EX_SOFTWARE).
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitBug = 70;

struct ErrorClass {
  Error::Kind kind;
  std::string_view name;  // for logs and test names: "invalid_input", "internal", ...
  unsigned http_status;
  std::string_view type;  // the body's "error_type" (TEI's vocabulary: "validation", "overloaded", ...)
  bool retryable;         // resending the same request unchanged may succeed
  bool retry_after;       // the answer carries Retry-After (when the seconds are known)
  int exit_code;
};

// Every Kind, once, in the enum's order.
std::span<const ErrorClass> error_classes() noexcept;
const ErrorClass& error_class(Error::Kind kind) noexcept;

// The inverse, for a client reading a status: the Kind of the row with that status (500, which
// three rows share, is kInternal; 429, which two share, is kOverloaded); a status no row has (from a proxy, say) is kTimeout for 408,
// else kInvalidInput for 4xx and kInternal for the rest.
Error::Kind kind_for_status(unsigned status) noexcept;

}  // namespace rerankd
