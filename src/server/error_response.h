#pragma once
// The HTTP edge of rerankd's error convention: every failure leaves as
// {"error": message, "error_type": type}, with the status, type and Retry-After that the Error's
// Kind has in the one table (common/error_class.h). There is no other way to build an error answer.
#include <string>
#include <string_view>

#include "common/error.h"
#include "server/http_types.h"

namespace rerankd::server {

// {"error": message, "error_type": type}
std::string error_body(std::string_view message, std::string_view type);

// Adds what the Kind implies besides the body: Retry-After (seconds rounded up, at least 1) where
// the class has it and the error knows when; WWW-Authenticate: Bearer for kUnauthorized.
HttpResponse error_response(const Error& error);

}  // namespace rerankd::server
