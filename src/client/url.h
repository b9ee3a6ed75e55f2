#pragma once
// Where a server lives: "http://host:port[/prefix]". Plain HTTP only (rerankd serves no TLS;
// put a proxy in front for that), so "https://" is refused rather than silently downgraded.
#include <cstdint>
#include <string>
#include <string_view>

namespace rerankd::client {

struct Url {
  std::string host{};         // a name or an address; IPv6 without brackets
  uint16_t port = 80;
  std::string base_path{};  // "" or "/prefix" (no trailing slash), prepended to every route

  // "host:port" for the Host header and messages ("[::1]:8080" for IPv6).
  std::string authority() const;
  // "http://host:port/prefix"
  std::string str() const;
};

// Throws Error(kInvalidInput) naming the text when it is not an http URL with a host.
// "host:port" without a scheme is accepted as http.
Url parse_url(std::string_view text);

}  // namespace rerankd::client
