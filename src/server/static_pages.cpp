#include "server/static_pages.h"

#include "server/assets.h"

namespace rerankd::server {

HttpResponse page_response() {
  HttpResponse response{http::status::ok, 11};
  response.set(http::field::content_type, "text/html; charset=utf-8");
  // Its script and style are inline; it fetches only this origin's API and frames nothing.
  response.set("Content-Security-Policy",
               "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
               "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  response.set("X-Content-Type-Options", "nosniff");
  response.set("Referrer-Policy", "no-referrer");
  response.body() = std::string(assets::index_html());
  return response;
}

HttpResponse openapi_response() { return json_response(http::status::ok, std::string(assets::openapi_json())); }

}  // namespace rerankd::server
