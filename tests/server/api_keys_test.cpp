// API keys: each named by its id (the first 8 hex digits of its SHA-256), the id of the key a
// request carries, and a key source that holds no key refused.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "server/api_keys.h"

namespace rerankd::server {
namespace {

TEST(KeyId, IsTheFirstEightHexDigitsOfTheKeysSha256) {
  EXPECT_EQ(key_id("abc"), "key-ba7816bf");  // FIPS 180-2's test vector
  EXPECT_EQ(key_id(""), "key-e3b0c442");
  EXPECT_NE(key_id("k-first-0123456789"), key_id("k-first-012345678"));
}

TEST(ApiKeys, TellWhichKeyARequestCarriesByItsId) {
  const ApiKeys keys({"alpha-key-1", " beta-key-2\n", "alpha-key-1"});
  ASSERT_NE(keys.id_of("Bearer alpha-key-1"), nullptr);
  EXPECT_EQ(*keys.id_of("Bearer alpha-key-1"), key_id("alpha-key-1"));
  EXPECT_EQ(*keys.id_of("bearer beta-key-2"), key_id("beta-key-2"));
  EXPECT_EQ(keys.id_of("Bearer alpha-key-"), nullptr);
  EXPECT_EQ(keys.id_of("alpha-key-1"), nullptr);
  EXPECT_EQ(keys.ids(), (std::vector<std::string>{key_id("alpha-key-1"), key_id("beta-key-2")}));
}

TEST(ApiKeys, ALineSourceWithoutKeysIsAnError) {
  std::istringstream comments("# no keys yet\n\n   \n");
  try {
    ApiKeys::read_lines(comments, "/run/secrets/keys");
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find("/run/secrets/keys holds no key"), std::string::npos) << e.what();
  }
  std::istringstream two("# ours\nk1\n  k2  \n");
  EXPECT_EQ(ApiKeys::read_lines(two, "stdin"), (std::vector<std::string>{"k1", "k2"}));
}

}  // namespace
}  // namespace rerankd::server
