#pragma once
// The message types every server file shares: Beast's string-bodied request and response.
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string>

namespace rerankd::server {

namespace http = boost::beast::http;
using HttpRequest = http::request<http::string_body>;
using HttpResponse = http::response<http::string_body>;

inline constexpr const char* kJsonContentType = "application/json";

// A response carrying a JSON body.
inline HttpResponse json_response(http::status status, std::string body) {
  HttpResponse response{status, 11};
  response.set(http::field::content_type, kJsonContentType);
  response.body() = std::move(body);
  return response;
}

}  // namespace rerankd::server
