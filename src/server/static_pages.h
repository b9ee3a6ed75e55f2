#pragma once
// GET / (the page a person tries the API in) and GET /openapi.json (the API's description): files
// compiled into the binary (server/assets.h), answered as they are.
#include "server/http_types.h"

namespace rerankd::server {

// text/html, with a Content-Security-Policy that lets the page load nothing from elsewhere and
// talk to this server only: it is a client of the public API like any other.
HttpResponse page_response();
HttpResponse openapi_response();

}  // namespace rerankd::server
