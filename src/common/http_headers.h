#pragma once
// rerankd's own HTTP headers, named once for the server and the client library.
#include <string_view>

namespace rerankd {

// The request's id: taken from the client (or generated), echoed in the response and the logs.
inline constexpr std::string_view kRequestIdHeader = "X-Request-Id";
// Seconds the client will wait; the server's deadline for the request (504 past it).
inline constexpr std::string_view kRequestTimeoutHeader = "X-Request-Timeout";

}  // namespace rerankd
