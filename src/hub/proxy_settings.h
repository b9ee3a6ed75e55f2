#pragma once
// HTTPS_PROXY / HTTP_PROXY / NO_PROXY as requests and curl read them: which proxy, if any, a
// request to a given URL goes through, and what to tell the proxy (Proxy-Authorization Basic from
// the credentials in the proxy's URL).
#include <optional>
#include <string>
#include <vector>

#include "hub/hub_url.h"

namespace rerankd::hub {

struct Proxy {
  HubUrl address;             // http://host:port of the proxy itself (the target is unused)
  std::string authorization;  // "Basic <base64(user:password)>", or "" without credentials
  std::string variable;       // the variable it came from ("HTTPS_PROXY", "https_proxy", ...)
  std::string shown;          // its URL with the password left out, for messages

  // "the proxy http://user@proxy:3128 (HTTPS_PROXY)"
  std::string describe() const;
};

// Parses a proxy URL as requests does: "http://[user[:password]@]host[:port]", the scheme may be
// left out, the port defaults to 80, user and password are percent-decoded. Throws
// Error(kInvalidInput) naming `variable` for anything else (an https:// or socks proxy among them).
Proxy parse_proxy(const std::string& text, const std::string& variable);

// One NO_PROXY entry against a host: "*" matches every host; a name matches itself and its
// subdomains (a leading '.' is optional: "example.com" and ".example.com" both match
// "hub.example.com", neither matches "notexample.com"); an address or CIDR block ("10.0.0.0/8",
// "::1") matches addresses inside it; an entry with ":port" matches that port only.
bool no_proxy_matches(const std::string& entry, const std::string& host, uint16_t port);

struct ProxySettings {
  std::optional<Proxy> http;   // http_proxy, else HTTP_PROXY
  std::optional<Proxy> https;  // https_proxy, else HTTPS_PROXY
  std::vector<std::string> no_proxy;  // no_proxy, else NO_PROXY, split at commas and blanks

  // Lower case first, as urllib and requests prefer it when both are set.
  static ProxySettings from_environment();

  // The proxy a request to `url` goes through, or nullptr to connect directly.
  const Proxy* for_url(const HubUrl& url) const;
};

}  // namespace rerankd::hub
