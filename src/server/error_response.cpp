#include "server/error_response.h"

#include "common/json_writer.h"

namespace rerankd::server {

ErrorStatus error_status(Error::Kind kind) noexcept {
  using K = Error::Kind;
  switch (kind) {
    case K::kInvalidInput: return {http::status::bad_request, "validation"};
    case K::kTooLarge: return {http::status::payload_too_large, "payload_too_large"};
    // Well-formed JSON that cannot be used (wrong types, too long with truncation off): TEI
    // answers these 422 with "validation" too.
    case K::kUnprocessable: return {http::status::unprocessable_entity, "validation"};
    case K::kOverloaded: return {http::status::too_many_requests, "overloaded"};
    case K::kTimeout: return {http::status::gateway_timeout, "timeout"};
    case K::kUnavailable: return {http::status::service_unavailable, "unhealthy"};
    // A model file or I/O failure at request time is the server's fault, not the caller's.
    case K::kModelFormat:
    case K::kIo:
    case K::kInternal: return {http::status::internal_server_error, "backend"};
  }
  return {http::status::internal_server_error, "backend"};
}

std::string error_body(std::string_view message, std::string_view type) {
  JsonWriter w;
  w.begin_object();
  w.key("error").value(message);
  w.key("error_type").value(type);
  w.end_object();
  return w.take();
}

HttpResponse error_response(http::status status, std::string_view type, std::string_view message) {
  return json_response(status, error_body(message, type));
}

HttpResponse error_response(const Error& error) {
  const ErrorStatus s = error_status(error.kind());
  return error_response(s.status, s.type, error.what());
}

}  // namespace rerankd::server
