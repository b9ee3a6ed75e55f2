#include "client/url.h"

#include <charconv>

#include "common/error.h"

namespace rerankd::client {

std::string Url::authority() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string Url::str() const { return "http://" + authority() + base_path; }

Url parse_url(std::string_view text) {
  auto fail = [&](const std::string& why) -> Error {
    return Error(Error::Kind::kInvalidInput, "bad URL '" + std::string(text) + "': " + why);
  };
  std::string_view rest = text;
  if (const size_t scheme_end = rest.find("://"); scheme_end != std::string_view::npos) {
    const std::string_view scheme = rest.substr(0, scheme_end);
    if (scheme == "https") throw fail("https is not supported (rerankd serves plain HTTP)");
    if (scheme != "http") throw fail("the scheme must be http");
    rest.remove_prefix(scheme_end + 3);
  }
  Url url;
  const size_t path_start = rest.find('/');
  std::string_view authority = rest.substr(0, path_start);
  if (path_start != std::string_view::npos) {
    std::string_view path = rest.substr(path_start);
    if (path.find_first_of("?#") != std::string_view::npos) throw fail("no query or fragment allowed");
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    url.base_path = std::string(path);
  }
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) throw fail("unclosed '[' in the host");
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw fail("expected ':' after ']'");
      port = after.substr(1);
    }
  } else {
    const size_t colon = authority.rfind(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (url.host.empty()) throw fail("no host");
  if (authority.find('@') != std::string_view::npos) throw fail("user info is not supported");
  if (!port.empty() || (authority.size() > 0 && authority.back() == ':')) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      throw fail("the port must be a number from 1 to 65535");
    }
    url.port = static_cast<uint16_t>(value);
  }
  return url;
}

}  // namespace rerankd::client
