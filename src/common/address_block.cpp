#include "common/address_block.h"

#include <algorithm>
#include <array>
#include <charconv>

namespace rerankd {
namespace {

namespace ip = boost::asio::ip;

using Bytes = std::array<unsigned char, 16>;

// The address's bytes, left-aligned, and its family's length in bits.
std::pair<Bytes, unsigned> bits_of(const ip::address& address) {
  Bytes bytes{};
  if (address.is_v4()) {
    const auto v4 = address.to_v4().to_bytes();
    std::copy(v4.begin(), v4.end(), bytes.begin());
    return {bytes, 32};
  }
  const auto v6 = address.to_v6().to_bytes();
  std::copy(v6.begin(), v6.end(), bytes.begin());
  return {bytes, 128};
}

ip::address from_bits(const Bytes& bytes, bool v4) {
  if (v4) return ip::address_v4(ip::address_v4::bytes_type{bytes[0], bytes[1], bytes[2], bytes[3]});
  ip::address_v6::bytes_type v6{};
  std::copy(bytes.begin(), bytes.end(), v6.begin());
  return ip::address_v6(v6);
}

// Whether the first `prefix` bits of a and b agree.
bool same_prefix(const Bytes& a, const Bytes& b, unsigned prefix) {
  const unsigned whole = prefix / 8;
  for (unsigned i = 0; i < whole; ++i) {
    if (a[i] != b[i]) return false;
  }
  const unsigned rest = prefix % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

ip::address unmapped(const ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, address.to_v6());
  return address;
}

std::optional<AddressBlock> AddressBlock::parse(std::string_view text) {
  const size_t slash = text.find('/');
  boost::system::error_code ec;
  const ip::address raw = ip::make_address(std::string(text.substr(0, slash)), ec);
  if (ec) return std::nullopt;
  unsigned prefix = raw.is_v4() ? 32 : 128;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    const unsigned family_bits = prefix;
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() || prefix > family_bits) {
      return std::nullopt;
    }
  }
  // ::ffff:10.0.0.0/104 is 10.0.0.0/8; a block wider than the mapped range stays IPv6.
  ip::address network = raw;
  if (raw.is_v6() && raw.to_v6().is_v4_mapped() && prefix >= 96) {
    network = unmapped(raw);
    prefix -= 96;
  }
  auto [bytes, bits] = bits_of(network);
  for (unsigned i = prefix; i < bits; ++i) bytes[i / 8] &= static_cast<unsigned char>(~(0x80u >> (i % 8)));
  return AddressBlock(from_bits(bytes, network.is_v4()), prefix);
}

bool AddressBlock::contains(const ip::address& address) const {
  // An IPv4 block holds IPv4 hosts however written; an IPv6 block compares in IPv6.
  const ip::address host = network_.is_v4() ? unmapped(address) : address;
  if (host.is_v4() != network_.is_v4()) return false;
  return same_prefix(bits_of(host).first, bits_of(network_).first, prefix_);
}

std::string AddressBlock::to_string() const {
  const bool one_address = prefix_ == (network_.is_v4() ? 32u : 128u);
  return one_address ? network_.to_string() : network_.to_string() + "/" + std::to_string(prefix_);
}

}  // namespace rerankd
