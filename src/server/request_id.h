#pragma once
// Request ids: the client's X-Request-Id when it is a sane token, otherwise a fresh random one.
#include <string>
#include <string_view>

namespace rerankd::server {

// A random UUID (version 4); also used as the Cohere-style response "id".
std::string new_request_id();

// The id to use for a request whose X-Request-Id header is `from_client` (empty when absent).
// Ids are echoed in a response header and written to logs, so anything but short printable
// ASCII is replaced rather than trusted.
std::string request_id_for(std::string_view from_client);

}  // namespace rerankd::server
