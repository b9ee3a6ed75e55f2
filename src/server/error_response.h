#pragma once
// The HTTP edge of rerankd's error convention: an Error's Kind decides the status and the
// TEI-style error_type, and every failure leaves as {"error": message, "error_type": type}.
#include <string_view>

#include "common/error.h"
#include "server/http_types.h"

namespace rerankd::server {

struct ErrorStatus {
  http::status status;
  std::string_view type;  // TEI's error_type vocabulary: "validation", "overloaded", ...
};

ErrorStatus error_status(Error::Kind kind) noexcept;

// {"error": message, "error_type": type}
std::string error_body(std::string_view message, std::string_view type);

HttpResponse error_response(http::status status, std::string_view type, std::string_view message);
HttpResponse error_response(const Error& error);

}  // namespace rerankd::server
