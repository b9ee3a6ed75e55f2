#pragma once
// An absolute http(s) URL split into the parts a request needs, and the resolution of a redirect's
// Location against the URL that answered (the hub's relative redirects for renamed repositories,
// the file store's absolute ones).
#include <cstdint>
#include <string>
#include <string_view>

namespace rerankd::hub {

struct HubUrl {
  bool tls = true;
  std::string host;    // a name or an address; IPv6 without brackets
  uint16_t port = 443;
  std::string target;  // path and query, starting with '/'

  // "host[:port]" as the Host header wants it (the port only when not the scheme's default).
  std::string authority() const;
  std::string str() const;
  // Same scheme, host and port: the only case where the Authorization header may follow a redirect.
  bool same_origin(const HubUrl& other) const;
};

// Throws Error(kInvalidInput) naming `what` (e.g. "HF_ENDPOINT") and the text when it is not an
// http:// or https:// URL with a host.
HubUrl parse_hub_url(std::string_view text, std::string_view what);

// `location` may be absolute ("https://cdn/..."), scheme-relative ("//cdn/...") or a path ("/x/y").
HubUrl resolve_location(const HubUrl& base, std::string_view location);

}  // namespace rerankd::hub
