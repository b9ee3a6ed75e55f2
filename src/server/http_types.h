#pragma once
// The message types every server file shares: Beast's string-bodied request and response.
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace rerankd::server {

namespace http = boost::beast::http;
using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

inline constexpr const char* kJsonContentType = "application/json";

}  // namespace rerankd::server
