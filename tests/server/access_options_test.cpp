// `serve`'s key, proxy, rate limit and tenant settings as the command line and the environment
// give them: keys fail closed (a source set but holding no key stops start-up), and every
// malformed setting is refused naming it.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "common/error.h"
#include "tools/access_options.h"

namespace rerankd::tools {
namespace {

class AccessOptions : public ::testing::Test {
 protected:
  static constexpr const char* kVariables[] = {"RERANKD_API_KEYS", "RERANKD_API_KEY_FILE", "RERANKD_TRUSTED_PROXIES",
                                               "RERANKD_TENANTS", "RERANKD_RATE_LIMIT_REQUESTS"};
  void SetUp() override {
    for (const char* name : kVariables) ::unsetenv(name);
  }
  void TearDown() override { SetUp(); }

  // Parses `args` as serve's; the options as the server would get them.
  server::ServerOptions parse(std::vector<std::string> args) {
    CLI::App app;
    AccessArgs access;
    server::ServerOptions options;
    add_access_options(app, access, options);
    std::vector<const char*> argv{"serve"};
    for (const std::string& a : args) argv.push_back(a.c_str());
    app.parse(static_cast<int>(argv.size()), argv.data());
    apply_access_options(access, options);
    return options;
  }

  // The message of the Error(kInvalidInput) that parsing `args` throws.
  std::string refusal(std::vector<std::string> args) {
    try {
      parse(std::move(args));
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::kInvalidInput);
      return e.what();
    }
    ADD_FAILURE() << "accepted";
    return "";
  }

  std::string write_file(const std::string& text) {
    const std::string path = ::testing::TempDir() + "rerankd-keys-" + std::to_string(files_++);
    std::ofstream(path) << text;
    return path;
  }
  int files_ = 0;
};

TEST_F(AccessOptions, UnsetKeysServeWithoutKeys) { EXPECT_TRUE(parse({}).api_keys.empty()); }

TEST_F(AccessOptions, AKeyVariableSetButHoldingNoKeyStopsStartUp) {
  for (const char* value : {"", ",", ",,", " , ", "\n"}) {
    ::setenv("RERANKD_API_KEYS", value, 1);
    const std::string message = refusal({});
    EXPECT_NE(message.find("RERANKD_API_KEYS"), std::string::npos) << "'" << value << "': " << message;
    EXPECT_NE(message.find("blank"), std::string::npos) << message;
  }
  ::setenv("RERANKD_API_KEYS", "k1,k2", 1);
  EXPECT_EQ(parse({}).api_keys, (std::vector<std::string>{"k1", "k2"}));
}

TEST_F(AccessOptions, AnEmptyKeyFileSettingOrAFileWithoutKeysStopsStartUp) {
  ::setenv("RERANKD_API_KEY_FILE", "", 1);
  EXPECT_NE(refusal({}).find("RERANKD_API_KEY_FILE"), std::string::npos);
  ::unsetenv("RERANKD_API_KEY_FILE");
  EXPECT_NE(refusal({"--api-key-file", ""}).find("--api-key-file"), std::string::npos);
  const std::string comments = write_file("# keys go here\n\n");
  EXPECT_NE(refusal({"--api-key-file", comments}).find(comments + ": the API key file holds no key"), std::string::npos);
  const std::string keys = write_file("k-file-1\n");
  EXPECT_EQ(parse({"--api-key-file", keys, "--api-key", "k-flag"}).api_keys,
            (std::vector<std::string>{"k-flag", "k-file-1"}));
  std::remove(comments.c_str());
  std::remove(keys.c_str());
}

TEST_F(AccessOptions, ABlankKeyFlagStopsStartUp) {
  EXPECT_NE(refusal({"--api-key", ""}).find("blank"), std::string::npos);
  EXPECT_NE(refusal({"--api-key", "k1", "--api-key", " "}).find("blank"), std::string::npos);
}

TEST_F(AccessOptions, TrustedProxiesFromFlagsAndTheEnvironment) {
  ::setenv("RERANKD_TRUSTED_PROXIES", "10.0.0.0/8,::1", 1);
  const server::ServerOptions o = parse({});
  ASSERT_EQ(o.trusted_proxies.size(), 2u);
  EXPECT_EQ(o.trusted_proxies[0].to_string(), "10.0.0.0/8");
  EXPECT_NE(refusal({"--trusted-proxy", "10.0.0.0/33"}).find("--trusted-proxy"), std::string::npos);
  ::setenv("RERANKD_TRUSTED_PROXIES", "10.0.0.0/8,proxy.example", 1);
  EXPECT_NE(refusal({}).find("RERANKD_TRUSTED_PROXIES"), std::string::npos);
}

TEST_F(AccessOptions, TenantsAndRates) {
  ::setenv("RERANKD_TENANTS", "key-1a2b3c4d:weight=2,requests=10;addr-192.0.2.7:pairs=5", 1);
  const server::ServerOptions o = parse({"--rate-limit-requests", "4", "--rate-limit-pairs", "100",
                                         "--rate-limit-burst-seconds", "2.5"});
  ASSERT_EQ(o.tenants.size(), 2u);
  EXPECT_EQ(o.tenants[0].weight, 2);
  EXPECT_EQ(o.tenants[1].pairs_per_second, 5);
  EXPECT_EQ(o.rate_limits.requests_per_second, 4);
  EXPECT_EQ(o.rate_limits.pairs_per_second, 100);
  EXPECT_EQ(o.rate_limits.burst_seconds, 2.5);
  EXPECT_NE(refusal({"--tenant", "key-1a2b3c4d:weight=0"}).find("--tenant"), std::string::npos);
  EXPECT_THROW(parse({"--rate-limit-requests", "-1"}), CLI::ValidationError);
  EXPECT_THROW(parse({"--rate-limit-burst-seconds", "0"}), CLI::ValidationError);
  ::setenv("RERANKD_RATE_LIMIT_REQUESTS", "-3", 1);
  EXPECT_THROW(parse({}), CLI::ValidationError);
}

}  // namespace
}  // namespace rerankd::tools
