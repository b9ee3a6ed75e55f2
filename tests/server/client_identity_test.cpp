// Who a request is: an API key by its id (never the key), an address without keys, and
// X-Forwarded-For believed only from trusted proxies.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "server/client_identity.h"

namespace rerankd::server {
namespace {

namespace ip = boost::asio::ip;

http::fields headers(std::initializer_list<std::pair<std::string, std::string>> lines) {
  http::fields f;
  for (const auto& [name, value] : lines) f.insert(name, value);
  return f;
}

constexpr const char* kForwardedFor = "X-Forwarded-For";
constexpr const char* kAuthorization = "Authorization";

std::vector<AddressBlock> blocks(std::initializer_list<const char*> texts) {
  std::vector<AddressBlock> out;
  for (const char* text : texts) out.push_back(AddressBlock::parse(text).value());
  return out;
}

TEST(ClientIdentity, WithKeysIsTheKeysIdAndWithoutAKeyNone) {
  const ApiKeys keys({"alpha-key-1"});
  const ClientIdentities identities(keys, {});
  const auto who = identities.of(headers({{kAuthorization, "Bearer alpha-key-1"}}), ip::make_address("192.0.2.1"));
  ASSERT_TRUE(who);
  EXPECT_EQ(who->str(), key_id("alpha-key-1"));
  EXPECT_FALSE(identities.of(headers({{kAuthorization, "Bearer nope"}}), ip::make_address("192.0.2.1")));
  EXPECT_FALSE(identities.of(headers({}), ip::make_address("192.0.2.1")));
}

TEST(ClientIdentity, WithoutKeysIsTheAddressAndAnIpv6HostItsSlash64) {
  const ApiKeys none;
  const ClientIdentities identities(none, {});
  EXPECT_EQ(identities.of(headers({}), ip::make_address("192.0.2.1"))->str(), "addr-192.0.2.1");
  EXPECT_EQ(identities.of(headers({}), ip::make_address("::ffff:192.0.2.1"))->str(), "addr-192.0.2.1");
  EXPECT_EQ(identities.of(headers({}), ip::make_address("2001:db8:1:2:aaaa:bbbb:cccc:dddd"))->str(),
            "addr-2001:db8:1:2::/64");
  EXPECT_EQ(ClientIdentity::of_address(ip::make_address("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")).str(),
            "addr-ffff:ffff:ffff:ffff::/64");
}

TEST(ClientIdentity, CanonicalTextsAreThoseItWrites) {
  for (const char* text : {"key-1a2b3c4d", "addr-192.0.2.7", "addr-2001:db8:1:2::/64", "addr-::/64"}) {
    EXPECT_TRUE(ClientIdentity::is_canonical(text)) << text;
  }
  for (const char* text : {"key-1A2B3C4D", "key-1a2b3c4", "key-1a2b3c4d5", "1a2b3c4d", "addr-192.0.2.7:80", "addr-010.0.0.1",
                           "addr-2001:db8::1", "addr-2001:db8:1:2::/48", "addr-[::1]", "addr-", "addr-host.example"}) {
    EXPECT_FALSE(ClientIdentity::is_canonical(text)) << text;
  }
}

TEST(ForwardedFor, BelievedOnlyFromATrustedPeer) {
  const auto trusted = blocks({"10.0.0.0/8"});
  const auto h = headers({{kForwardedFor, "203.0.113.7"}});
  EXPECT_EQ(client_address(h, ip::make_address("192.0.2.1"), trusted), ip::make_address("192.0.2.1"));
  EXPECT_EQ(client_address(h, ip::make_address("10.1.1.1"), trusted), ip::make_address("203.0.113.7"));
  EXPECT_EQ(client_address(h, ip::make_address("::ffff:10.1.1.1"), trusted), ip::make_address("203.0.113.7"));
  EXPECT_EQ(client_address(h, ip::make_address("10.1.1.1"), {}), ip::make_address("10.1.1.1"));
  EXPECT_EQ(client_address(headers({}), ip::make_address("10.1.1.1"), trusted), ip::make_address("10.1.1.1"));
}

TEST(ForwardedFor, TheRightmostUntrustedEntryAcrossLines) {
  const auto trusted = blocks({"10.0.0.0/8", "fd00::/8"});
  const ip::address proxy = ip::make_address("10.0.0.1");
  // What the client wrote itself is on the left, past the first address a trusted proxy vouches for.
  EXPECT_EQ(client_address(headers({{kForwardedFor, "1.1.1.1, 198.51.100.4, 10.0.0.2"}}), proxy, trusted),
            ip::make_address("198.51.100.4"));
  EXPECT_EQ(client_address(headers({{kForwardedFor, "10.0.0.3,10.0.0.2"}}), proxy, trusted),
            ip::make_address("10.0.0.3"));  // all proxies: the farthest
  EXPECT_EQ(client_address(headers({{kForwardedFor, "198.51.100.9"}, {kForwardedFor, "10.0.0.2"}}),
                           proxy, trusted),
            ip::make_address("198.51.100.9"));
  EXPECT_EQ(client_address(headers({{kForwardedFor, "198.51.100.4:4711"}}), proxy, trusted),
            ip::make_address("198.51.100.4"));
  EXPECT_EQ(client_address(headers({{kForwardedFor, "[2001:db8::7]:443, fd00::1"}}), proxy, trusted),
            ip::make_address("2001:db8::7"));
  EXPECT_EQ(client_address(headers({{kForwardedFor, " 2001:db8::8 "}}), proxy, trusted),
            ip::make_address("2001:db8::8"));
}

TEST(ForwardedFor, MalformedBeforeAnUntrustedEntryMeansThePeer) {
  const auto trusted = blocks({"10.0.0.0/8"});
  const ip::address proxy = ip::make_address("10.0.0.1");
  for (const char* value : {"garbage", "198.51.100.4, unknown", "198.51.100.4,", "", "198.51.100.4:", "198.51.100.4:99999x",
                            "[2001:db8::7", "[2001:db8::7]x", "198.51.100.4, , 10.0.0.2"}) {
    EXPECT_EQ(client_address(headers({{kForwardedFor, value}}), proxy, trusted), proxy) << value;
  }
  // Garbage the client wrote beyond the address a proxy vouches for does not matter.
  EXPECT_EQ(client_address(headers({{kForwardedFor, "garbage, 198.51.100.4"}}), proxy, trusted),
            ip::make_address("198.51.100.4"));
}

}  // namespace
}  // namespace rerankd::server
