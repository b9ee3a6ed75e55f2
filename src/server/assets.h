#pragma once
// Files compiled into the binary by cmake/Embed.cmake: served as they are, never read from disk.
#include <string_view>

namespace rerankd::server::assets {

std::string_view openapi_json();  // docs/openapi.json: the API's OpenAPI 3.1 description
std::string_view index_html();    // src/server/page/index.html: the page at /

}  // namespace rerankd::server::assets
