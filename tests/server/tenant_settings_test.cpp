// --tenant ID:weight=W,requests=R,pairs=P: what parses, and what is refused with a message naming
// the setting.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/error.h"
#include "server/tenant_settings.h"

namespace rerankd::server {
namespace {

constexpr std::string_view kSource = "--tenant (RERANKD_TENANTS)";

TEST(TenantSettings, ParsesEachSettingAndLeavesTheRestToTheServer) {
  const TenantSettings t = parse_tenant("key-1a2b3c4d:weight=2,requests=10,pairs=200.5", kSource);
  EXPECT_EQ(t.id, "key-1a2b3c4d");
  EXPECT_EQ(t.weight, 2);
  EXPECT_EQ(t.requests_per_second, 10);
  EXPECT_EQ(t.pairs_per_second, 200.5);
  const TenantSettings only_pairs = parse_tenant("addr-2001:db8:1:2::/64:pairs=0", kSource);
  EXPECT_EQ(only_pairs.id, "addr-2001:db8:1:2::/64");
  EXPECT_EQ(only_pairs.weight, 1);
  EXPECT_FALSE(only_pairs.requests_per_second);
  EXPECT_EQ(only_pairs.pairs_per_second, 0);
  EXPECT_EQ(parse_tenant("addr-192.0.2.7:weight=0.5", kSource).weight, 0.5);
}

TEST(TenantSettings, RefusesWhatItCannotUseNamingTheSetting) {
  for (const char* spec : {"key-1a2b3c4d", "key-1a2b3c4d:", "bob:weight=2", "1a2b3c4d:weight=2", "key-1a2b3c4d:weight=0",
                           "key-1a2b3c4d:weight=-1", "key-1a2b3c4d:requests=-1", "key-1a2b3c4d:pairs=many",
                           "key-1a2b3c4d:pairs=", "key-1a2b3c4d:weight", "key-1a2b3c4d:speed=3",
                           "key-1a2b3c4d:weight=2,", "key-1a2b3c4d:weight=2,weight=3", "key-1a2b3c4d:requests=inf",
                           "addr-2001:db8::1:weight=2"}) {
    try {
      parse_tenant(spec, kSource);
      ADD_FAILURE() << spec << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::kInvalidInput) << spec;
      EXPECT_NE(std::string(e.what()).find(kSource), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(spec), std::string::npos) << e.what();
    }
  }
}

TEST(TenantSettings, AnIdGivenTwiceIsRefused) {
  const std::vector<std::string> specs{"key-1a2b3c4d:weight=2", "key-00000000:weight=1", "key-1a2b3c4d:requests=1"};
  EXPECT_THROW(parse_tenants(specs, kSource), Error);
  EXPECT_EQ(parse_tenants(std::span(specs).first(2), kSource).size(), 2u);
}

}  // namespace
}  // namespace rerankd::server
