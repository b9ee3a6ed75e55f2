#pragma once
// Who a request is, for rate limits and fair shares between tenants. With API keys: the key it
// carries, by its id (never the key). Without: the client's address — the TCP peer's, or, when
// the peer is a trusted proxy, the address X-Forwarded-For says that proxy was reached from.
#include <boost/asio/ip/address.hpp>

#include <array>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/address_block.h"
#include "server/api_keys.h"
#include "server/http_types.h"

namespace rerankd::server {

class Exchange;

// The text that names an identity in tenant settings, metrics and the access log:
// "key-1a2b3c4d", or "addr-192.0.2.7" — an IPv6 client by its /64, "addr-2001:db8:1:2::/64",
// the block a single host is usually given, so that one host cannot be many tenants. Held
// inline: making one allocates nothing.
class ClientIdentity {
 public:
  static ClientIdentity of_key(std::string_view id);  // an id from key_id()
  static ClientIdentity of_address(const boost::asio::ip::address& address);

  // Whether `text` is an identity as of_key or of_address writes it (tenant settings name them).
  static bool is_canonical(std::string_view text);

  std::string_view str() const { return {text_.data(), size_}; }

 private:
  ClientIdentity& append(std::string_view text);

  std::array<char, 56> text_{};  // "addr-" + the longest IPv6 text + "/64"
  size_t size_ = 0;
};

// The client's address: `peer`, unless `peer` is in `trusted`; then X-Forwarded-For (all its
// lines, in order) read from the right, each trusted entry a proxy that passed it on: the first
// entry that is not trusted, or the leftmost when all are. An entry that is not an address
// ("1.2.3.4", "1.2.3.4:5678", "2001:db8::1", "[2001:db8::1]:5678") reached before that makes
// the header unusable, and the answer is `peer`; no header, likewise.
boost::asio::ip::address client_address(const http::fields& headers, const boost::asio::ip::address& peer,
                                        std::span<const AddressBlock> trusted);

class ClientIdentities {
 public:
  ClientIdentities(const ApiKeys& keys, std::vector<AddressBlock> trusted_proxies);

  // nullopt when keys are configured and the request carries none of them.
  std::optional<ClientIdentity> of(const http::fields& headers, const boost::asio::ip::address& peer) const;
  std::optional<ClientIdentity> of(const Exchange& exchange) const;

 private:
  const ApiKeys& keys_;
  std::vector<AddressBlock> trusted_;
};

}  // namespace rerankd::server
