#include "server/client_identity.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "server/http_server.h"

namespace rerankd::server {
namespace {

namespace ip = boost::asio::ip;

constexpr std::string_view kKeyPrefix = "key-";
constexpr std::string_view kAddressPrefix = "addr-";
constexpr unsigned kIpv6HostBlock = 64;
constexpr std::string_view kForwardedFor = "X-Forwarded-For";  // not in Boost 1.74's http::field

// An X-Forwarded-For entry's address, the port (if any) dropped; nullopt if it is none.
std::optional<ip::address> forwarded_address(std::string_view entry) {
  constexpr std::string_view kBlank = " \t";
  const size_t begin = entry.find_first_not_of(kBlank);
  if (begin == std::string_view::npos) return std::nullopt;
  entry = entry.substr(begin, entry.find_last_not_of(kBlank) - begin + 1);
  std::string_view host = entry, port;
  if (entry.starts_with('[')) {
    const size_t close = entry.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = entry.substr(1, close - 1);
    const std::string_view rest = entry.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) return std::nullopt;
    port = rest.empty() ? rest : rest.substr(1);
    if (!rest.empty() && port.empty()) return std::nullopt;
  } else if (const size_t colon = entry.find(':'); colon != std::string_view::npos && colon == entry.rfind(':')) {
    host = entry.substr(0, colon);  // IPv4:port; more colons: a bare IPv6 address
    port = entry.substr(colon + 1);
    if (port.empty()) return std::nullopt;
  }
  if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  char text[64];  // NUL-terminated for make_address, without a std::string
  if (host.empty() || host.size() >= sizeof text) return std::nullopt;
  std::memcpy(text, host.data(), host.size());
  text[host.size()] = '\0';
  boost::system::error_code ec;
  const ip::address address = ip::make_address(text, ec);
  if (ec) return std::nullopt;
  return unmapped(address);
}

bool trusted_by(std::span<const AddressBlock> trusted, const ip::address& address) {
  return std::any_of(trusted.begin(), trusted.end(), [&](const AddressBlock& b) { return b.contains(address); });
}

}  // namespace

ClientIdentity& ClientIdentity::append(std::string_view text) {
  const size_t n = std::min(text.size(), text_.size() - size_);
  std::memcpy(text_.data() + size_, text.data(), n);
  size_ += n;
  return *this;
}

ClientIdentity ClientIdentity::of_key(std::string_view id) { return ClientIdentity().append(id); }

ClientIdentity ClientIdentity::of_address(const ip::address& raw) {
  const ip::address address = unmapped(raw);
  char text[INET6_ADDRSTRLEN];
  ClientIdentity identity;
  identity.append(kAddressPrefix);
  if (address.is_v4()) {
    const auto bytes = address.to_v4().to_bytes();
    ::inet_ntop(AF_INET, bytes.data(), text, sizeof text);
    return identity.append(text);
  }
  auto bytes = address.to_v6().to_bytes();
  std::fill(bytes.begin() + kIpv6HostBlock / 8, bytes.end(), 0);
  ::inet_ntop(AF_INET6, bytes.data(), text, sizeof text);
  return identity.append(text).append("/64");
}

bool ClientIdentity::is_canonical(std::string_view text) {
  if (text.starts_with(kKeyPrefix)) {
    const std::string_view hex = text.substr(kKeyPrefix.size());
    return hex.size() == 8 &&
           std::all_of(hex.begin(), hex.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
  }
  if (!text.starts_with(kAddressPrefix)) return false;
  std::string_view address = text.substr(kAddressPrefix.size());
  if (address.ends_with("/64")) address.remove_suffix(3);
  const std::optional<ip::address> parsed = forwarded_address(address);
  return parsed && of_address(*parsed).str() == text;
}

ip::address client_address(const http::fields& headers, const ip::address& peer, std::span<const AddressBlock> trusted) {
  if (!trusted_by(trusted, peer)) return peer;
  const auto [first, last] = headers.equal_range(kForwardedFor);
  std::optional<ip::address> leftmost;
  for (auto line = last; line != first;) {
    std::string_view rest = (--line)->value();
    while (true) {
      const size_t comma = rest.rfind(',');
      const std::optional<ip::address> address =
          forwarded_address(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
      if (!address) return peer;
      if (!trusted_by(trusted, *address)) return *address;
      leftmost = address;
      if (comma == std::string_view::npos) break;
      rest = rest.substr(0, comma);
    }
  }
  return leftmost.value_or(peer);
}

ClientIdentities::ClientIdentities(const ApiKeys& keys, std::vector<AddressBlock> trusted_proxies)
    : keys_(keys), trusted_(std::move(trusted_proxies)) {}

std::optional<ClientIdentity> ClientIdentities::of(const http::fields& headers, const ip::address& peer) const {
  if (keys_.enabled()) {
    const std::string* id = keys_.id_of(headers[http::field::authorization]);
    if (id == nullptr) return std::nullopt;
    return ClientIdentity::of_key(*id);
  }
  return ClientIdentity::of_address(client_address(headers, peer, trusted_));
}

std::optional<ClientIdentity> ClientIdentities::of(const Exchange& exchange) const {
  return of(exchange.request(), exchange.peer_address());
}

}  // namespace rerankd::server
