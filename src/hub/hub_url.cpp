#include "hub/hub_url.h"

#include <charconv>

#include "common/error.h"

namespace rerankd::hub {

std::string HubUrl::authority() const {
  // Appends rather than operator+ chains, which trip GCC 12's -Wrestrict false positive.
  std::string h;
  const bool ipv6 = host.find(':') != std::string::npos;
  if (ipv6) h += '[';
  h += host;
  if (ipv6) h += ']';
  if (port != (tls ? 443 : 80)) {
    h += ':';
    h += std::to_string(port);
  }
  return h;
}

std::string HubUrl::str() const { return std::string(tls ? "https://" : "http://") + authority() + target; }

bool HubUrl::same_origin(const HubUrl& other) const {
  return tls == other.tls && host == other.host && port == other.port;
}

HubUrl parse_hub_url(std::string_view text, std::string_view what) {
  const auto bad = [&](const char* why) {
    return Error(Error::Kind::kInvalidInput, std::string(what) + "=" + std::string(text) + ": " + why);
  };
  HubUrl url;
  std::string_view rest = text;
  if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
    url.tls = false;
    url.port = 80;
  } else {
    throw bad("not an http:// or https:// URL");
  }
  const size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  std::string target(1, '/');
  if (slash != std::string_view::npos) target.append(rest.substr(rest[slash] == '/' ? slash + 1 : slash));
  url.target = std::move(target);
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) throw bad("credentials in the URL");
  std::string_view port_text;
  if (authority.starts_with("[")) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) throw bad("unclosed '[' in the host");
    url.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') throw bad("junk after the IPv6 address");
      port_text = authority.substr(close + 2);
    }
  } else {
    const size_t colon = authority.find(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (url.host.empty()) throw bad("no host");
  if (!port_text.empty()) {
    unsigned port = 0;
    const auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
      throw bad("bad port");
    }
    url.port = static_cast<uint16_t>(port);
  }
  return url;
}

HubUrl resolve_location(const HubUrl& base, std::string_view location) {
  if (location.starts_with("http://") || location.starts_with("https://")) {
    return parse_hub_url(location, "redirect Location");
  }
  if (location.starts_with("//")) {
    std::string absolute = base.tls ? "https:" : "http:";
    absolute.append(location);
    return parse_hub_url(absolute, "redirect Location");
  }
  HubUrl url = base;
  if (location.starts_with("/")) {
    url.target = std::string(location);
  } else {
    // Relative to the directory of the current path (RFC 3986 merge, without dot segments).
    const size_t query = url.target.find('?');
    const std::string path = url.target.substr(0, query);
    url.target = path.substr(0, path.rfind('/') + 1) + std::string(location);
  }
  return url;
}

}  // namespace rerankd::hub
