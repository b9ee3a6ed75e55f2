#pragma once
// An IP address or a CIDR block ("10.0.0.0/8", "fd00::/8", "192.0.2.7"): NO_PROXY's address
// entries and the server's trusted proxies. An IPv4 address written as IPv6 (::ffff:10.1.2.3, as
// a dual-stack socket reports an IPv4 peer) is the IPv4 address, on either side.
#include <boost/asio/ip/address.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace rerankd {

class AddressBlock {
 public:
  // nullopt unless `text` is an address, or ADDRESS/PREFIX with a prefix length the family allows
  // (host bits may be set: "10.1.2.3/8" is 10.0.0.0/8).
  static std::optional<AddressBlock> parse(std::string_view text);

  bool contains(const boost::asio::ip::address& address) const;

  // "10.0.0.0/8": the network, with the prefix length unless it is one address.
  std::string to_string() const;

 private:
  AddressBlock(boost::asio::ip::address network, unsigned prefix) : network_(network), prefix_(prefix) {}

  boost::asio::ip::address network_;
  unsigned prefix_;
};

// An IPv4-mapped IPv6 address as its IPv4 address; any other unchanged.
boost::asio::ip::address unmapped(const boost::asio::ip::address& address);

}  // namespace rerankd
