// Addresses and CIDR blocks (NO_PROXY's address entries, the server's trusted proxies): what
// parses, how a block prints, and which addresses it holds, IPv4-mapped IPv6 among them.
#include <gtest/gtest.h>

#include "common/address_block.h"

namespace rerankd {
namespace {

namespace ip = boost::asio::ip;

TEST(AddressBlock, ParsesAddressesAndCidrBlocks) {
  EXPECT_EQ(AddressBlock::parse("10.0.0.0/8")->to_string(), "10.0.0.0/8");
  EXPECT_EQ(AddressBlock::parse("10.1.2.3/8")->to_string(), "10.0.0.0/8");
  EXPECT_EQ(AddressBlock::parse("192.0.2.7")->to_string(), "192.0.2.7");
  EXPECT_EQ(AddressBlock::parse("fd12:3456::1/16")->to_string(), "fd12::/16");
  EXPECT_EQ(AddressBlock::parse("::1")->to_string(), "::1");
  EXPECT_EQ(AddressBlock::parse("::ffff:10.0.0.0/104")->to_string(), "10.0.0.0/8");
  EXPECT_EQ(AddressBlock::parse("0.0.0.0/0")->to_string(), "0.0.0.0/0");
  for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "/8", "10.0.0.0/8x", "10.0.0.0/-1", "10.0.0.0/+8",
                          "10.0.0", "proxy.example", "", "10.0.0.0/8/8"}) {
    EXPECT_FALSE(AddressBlock::parse(bad)) << bad;
  }
}

TEST(AddressBlock, ContainsItsFamilysAddressesUnderThePrefix) {
  const AddressBlock ten = *AddressBlock::parse("10.0.0.0/8");
  EXPECT_TRUE(ten.contains(ip::make_address("10.255.0.1")));
  EXPECT_TRUE(ten.contains(ip::make_address("::ffff:10.0.0.1")));
  EXPECT_FALSE(ten.contains(ip::make_address("11.0.0.1")));
  EXPECT_FALSE(ten.contains(ip::make_address("::a00:1")));
  const AddressBlock odd = *AddressBlock::parse("192.0.2.128/25");
  EXPECT_TRUE(odd.contains(ip::make_address("192.0.2.200")));
  EXPECT_FALSE(odd.contains(ip::make_address("192.0.2.127")));
  const AddressBlock v6 = *AddressBlock::parse("2001:db8::/32");
  EXPECT_TRUE(v6.contains(ip::make_address("2001:db8:ffff::1")));
  EXPECT_FALSE(v6.contains(ip::make_address("2001:db9::1")));
  EXPECT_FALSE(v6.contains(ip::make_address("10.0.0.1")));
  EXPECT_TRUE(AddressBlock::parse("0.0.0.0/0")->contains(ip::make_address("203.0.113.1")));
  EXPECT_TRUE(AddressBlock::parse("::1")->contains(ip::make_address("::1")));
  EXPECT_FALSE(AddressBlock::parse("::1")->contains(ip::make_address("::2")));
}

}  // namespace
}  // namespace rerankd
