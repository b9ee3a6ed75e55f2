#include "server/error_response.h"

#include <algorithm>
#include <cmath>

#include "common/error_class.h"
#include "common/json_writer.h"

namespace rerankd::server {

std::string error_body(std::string_view message, std::string_view type) {
  JsonWriter w;
  w.begin_object();
  w.key("error").value(message);
  w.key("error_type").value(type);
  w.end_object();
  return w.take();
}

HttpResponse error_response(const Error& error) {
  const ErrorClass& c = error_class(error.kind());
  HttpResponse response = json_response(static_cast<http::status>(c.http_status), error_body(error.what(), c.type));
  if (c.retry_after && error.retry_after_seconds() > 0) {
    const double seconds = std::clamp(std::ceil(error.retry_after_seconds()), 1.0, 3600.0);
    response.set(http::field::retry_after, std::to_string(static_cast<int>(seconds)));
  }
  if (error.kind() == Error::Kind::kUnauthorized) response.set(http::field::www_authenticate, "Bearer");
  return response;
}

}  // namespace rerankd::server
