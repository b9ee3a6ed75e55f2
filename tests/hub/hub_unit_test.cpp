// Units of the hub client that need no server: URLs and redirects, hub ids, ETags and the digests
// they stand for (expected values are the published SHA-256 of "abc" and git's blob id of "hello\n",
// as `git hash-object` prints it), the cache layout and the completeness check, proxy variables
// and NO_PROXY matching (the Basic credentials are RFC 7617's own example, "Aladdin:open sesame").
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "hub/etag_digest.h"
#include "hub/hub_url.h"
#include "hub/model_files.h"
#include "hub/model_source.h"
#include "hub/proxy_settings.h"
#include "hub/repo_cache.h"

namespace rerankd::hub {
namespace {

namespace fs = std::filesystem;

TEST(HubUrl, ParsesSchemesPortsAndPrefixes) {
  const HubUrl a = parse_hub_url("https://huggingface.co", "HF_ENDPOINT");
  EXPECT_TRUE(a.tls);
  EXPECT_EQ(a.host, "huggingface.co");
  EXPECT_EQ(a.port, 443);
  EXPECT_EQ(a.target, "/");
  EXPECT_EQ(a.authority(), "huggingface.co");
  const HubUrl b = parse_hub_url("http://[::1]:8080/mirror/hf?x=1", "HF_ENDPOINT");
  EXPECT_FALSE(b.tls);
  EXPECT_EQ(b.host, "::1");
  EXPECT_EQ(b.port, 8080);
  EXPECT_EQ(b.target, "/mirror/hf?x=1");
  EXPECT_EQ(b.authority(), "[::1]:8080");
  for (const char* bad : {"ftp://x", "huggingface.co", "https://", "https://h:0", "https://h:99999", "https://u:p@h/"}) {
    EXPECT_THROW(parse_hub_url(bad, "HF_ENDPOINT"), Error) << bad;
  }
}

TEST(HubUrl, ResolvesRedirectLocations) {
  const HubUrl base = parse_hub_url("https://hub.example:8443/a/resolve/main/config.json", "x");
  EXPECT_EQ(resolve_location(base, "/b/resolve/main/config.json").str(), "https://hub.example:8443/b/resolve/main/config.json");
  EXPECT_EQ(resolve_location(base, "other.json").str(), "https://hub.example:8443/a/resolve/main/other.json");
  EXPECT_EQ(resolve_location(base, "//cdn.example/x").str(), "https://cdn.example/x");
  const HubUrl cdn = resolve_location(base, "http://cdn.example/blob?sig=1");
  EXPECT_EQ(cdn.str(), "http://cdn.example/blob?sig=1");
  EXPECT_FALSE(cdn.same_origin(base));
  EXPECT_TRUE(resolve_location(base, "/x").same_origin(base));
}

TEST(HubId, AcceptsOrgNameAndRefusesPaths) {
  for (const char* id : {"BAAI/bge-reranker-v2-m3", "cross-encoder/ms-marco-MiniLM-L-6-v2", "bert-base-uncased"}) {
    EXPECT_TRUE(is_hub_id(id)) << id;
  }
  for (const char* id : {"", "/abs/path", "./x", "a/b/c", "../x", "a/..", "a--b/c", "a/b c", "org/", "-a/b"}) {
    EXPECT_FALSE(is_hub_id(id)) << id;
  }
}

TEST(EtagDigest, Sha256ForLfsAndGitBlobIdOtherwise) {
  EXPECT_EQ(normalize_etag("W/\"abc\""), "abc");
  EXPECT_EQ(normalize_etag("\"abc\""), "abc");
  const std::string sha = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  EtagDigest lfs(sha, 3);
  ASSERT_TRUE(lfs.checks());
  lfs.update("abc", 3);
  EXPECT_EQ(lfs.hex(), sha);
  const std::string git = "ce013625030ba8dba906f756967f9e9ca394464a";
  EtagDigest blob(git, 6);
  ASSERT_TRUE(blob.checks());
  blob.update("hello\n", 6);
  EXPECT_EQ(blob.hex(), git);
  EXPECT_FALSE(EtagDigest("not-a-digest", 3).checks());
}

class RepoCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("rerankd-hub-unit-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  void write(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
  }
  fs::path root_;
};

TEST_F(RepoCacheTest, LaysOutRefsBlobsAndRelativeSnapshotLinks) {
  const RepoCache cache(root_, "ORG/NAME");
  EXPECT_EQ(cache.dir(), root_ / "models--ORG--NAME");
  EXPECT_EQ(cache.lock_file("e"), root_ / ".locks" / "models--ORG--NAME" / "e.lock");
  const std::string commit(40, 'a');
  EXPECT_EQ(cache.commit_of("main"), std::nullopt);
  EXPECT_EQ(cache.commit_of(commit), commit);
  cache.set_ref("main", commit);
  EXPECT_EQ(cache.commit_of("main"), commit);
  write(cache.blob("etag1"), "{}");
  cache.link(commit, "config.json", "etag1");
  EXPECT_EQ(fs::read_symlink(cache.snapshot(commit) / "config.json"), fs::path("../../blobs/etag1"));
  cache.link(commit, "sub/file", "etag1");
  EXPECT_EQ(fs::read_symlink(cache.snapshot(commit) / "sub" / "file"), fs::path("../../../blobs/etag1"));
  EXPECT_TRUE(fs::is_regular_file(cache.snapshot(commit) / "sub" / "file"));
}

TEST_F(RepoCacheTest, SnapshotIsCompleteOnlyWithConfigEveryShardAndAVocabulary) {
  write(root_ / "config.json", "{}");
  EXPECT_EQ(missing_model_file(root_), "model.safetensors");
  write(root_ / "model.safetensors.index.json", R"({"weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}})");
  write(root_ / "s1.safetensors", "x");
  EXPECT_EQ(missing_model_file(root_), "s2.safetensors");
  fs::create_symlink("nowhere", root_ / "s2.safetensors");  // a link to a blob never completed
  EXPECT_EQ(missing_model_file(root_), "s2.safetensors");
  fs::remove(root_ / "s2.safetensors");
  write(root_ / "s2.safetensors", "x");
  EXPECT_EQ(missing_model_file(root_), "sentencepiece.bpe.model");
  write(root_ / "sentencepiece.bpe.model", "x");
  EXPECT_EQ(missing_model_file(root_), "");
  EXPECT_EQ(index_shards(root_ / "model.safetensors.index.json"),
            (std::vector<std::string>{"s1.safetensors", "s2.safetensors"}));
  write(root_ / "evil.json", R"({"weight_map": {"a": "../../etc/passwd"}})");
  EXPECT_THROW(index_shards(root_ / "evil.json"), Error);
}

TEST(Proxy, ParsesUrlsAsRequestsDoes) {
  const Proxy p = parse_proxy("http://Aladdin:open%20sesame@proxy.corp:3128/", "HTTPS_PROXY");
  EXPECT_EQ(p.address.host, "proxy.corp");
  EXPECT_EQ(p.address.port, 3128);
  EXPECT_FALSE(p.address.tls);
  EXPECT_EQ(p.authorization, "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  EXPECT_EQ(p.describe(), "the proxy http://Aladdin@proxy.corp:3128 (HTTPS_PROXY)");  // never the password
  const Proxy bare = parse_proxy("10.0.0.1", "http_proxy");  // no scheme: http://, port 80
  EXPECT_EQ(bare.address.host, "10.0.0.1");
  EXPECT_EQ(bare.address.port, 80);
  EXPECT_EQ(bare.authorization, "");
  EXPECT_EQ(parse_proxy("HTTP://[::1]:8080", "HTTP_PROXY").address.host, "::1");
  for (const char* bad : {"https://proxy:443", "socks5://proxy:1080", "http://", "http://proxy:99999"}) {
    try {
      parse_proxy(bad, "HTTPS_PROXY");
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("HTTPS_PROXY"), std::string::npos) << e.what();
    }
  }
}

TEST(Proxy, NoProxyMatchesNamesAtDotsAddressesAndPorts) {
  EXPECT_TRUE(no_proxy_matches("*", "huggingface.co", 443));
  EXPECT_TRUE(no_proxy_matches("huggingface.co", "huggingface.co", 443));
  EXPECT_TRUE(no_proxy_matches("huggingface.co", "cdn-lfs.HuggingFace.co", 443));
  EXPECT_TRUE(no_proxy_matches(".huggingface.co", "cdn-lfs.huggingface.co", 443));
  EXPECT_TRUE(no_proxy_matches(".huggingface.co", "huggingface.co", 443));
  EXPECT_FALSE(no_proxy_matches("huggingface.co", "nothuggingface.co", 443));
  EXPECT_FALSE(no_proxy_matches("cdn.huggingface.co", "huggingface.co", 443));
  EXPECT_TRUE(no_proxy_matches("mirror:8080", "mirror", 8080));
  EXPECT_FALSE(no_proxy_matches("mirror:8080", "mirror", 443));
  EXPECT_TRUE(no_proxy_matches("10.0.0.0/8", "10.20.30.40", 80));
  EXPECT_FALSE(no_proxy_matches("10.0.0.0/8", "11.0.0.1", 80));
  EXPECT_TRUE(no_proxy_matches("127.0.0.1", "127.0.0.1", 80));
  EXPECT_FALSE(no_proxy_matches("127.0.0.1", "127.0.0.2", 80));
  EXPECT_TRUE(no_proxy_matches("::1", "::1", 80));
  EXPECT_TRUE(no_proxy_matches("[::1]:8080", "::1", 8080));
  EXPECT_TRUE(no_proxy_matches("fd00::/8", "fd12::5", 443));
  EXPECT_FALSE(no_proxy_matches("fd00::/8", "fe80::1", 443));
  EXPECT_FALSE(no_proxy_matches("10.0.0.0/8", "ten.example", 80));  // a block never matches a name
}

class ProxyEnv : public ::testing::Test {
 protected:
  static constexpr const char* kNames[] = {"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"};
  void SetUp() override {
    for (const char* name : kNames) {
      if (const char* v = std::getenv(name)) saved_.emplace_back(name, v);
      ::unsetenv(name);
    }
  }
  void TearDown() override {
    for (const char* name : kNames) ::unsetenv(name);
    for (const auto& [name, value] : saved_) ::setenv(name.c_str(), value.c_str(), 1);
  }
  std::vector<std::pair<std::string, std::string>> saved_;
};

TEST_F(ProxyEnv, EachSchemeHasItsProxyLowerCaseFirstAndNoProxyBypasses) {
  const HubUrl hub = parse_hub_url("https://huggingface.co", "HF_ENDPOINT");
  const HubUrl mirror = parse_hub_url("http://mirror.corp:8080", "HF_ENDPOINT");
  EXPECT_EQ(ProxySettings::from_environment().for_url(hub), nullptr);
  ::setenv("HTTPS_PROXY", "http://upper:1", 1);
  ::setenv("https_proxy", "http://lower:2", 1);
  ::setenv("HTTP_PROXY", "http://plain:3", 1);
  ::setenv("NO_PROXY", "corp, localhost", 1);
  const ProxySettings s = ProxySettings::from_environment();
  ASSERT_NE(s.for_url(hub), nullptr);
  EXPECT_EQ(s.for_url(hub)->address.host, "lower");
  EXPECT_EQ(s.for_url(hub)->variable, "https_proxy");
  EXPECT_EQ(s.for_url(mirror), nullptr);  // NO_PROXY's "corp"
  EXPECT_EQ(s.for_url(parse_hub_url("http://elsewhere", "x"))->variable, "HTTP_PROXY");
  ::setenv("no_proxy", "", 1);  // empty: as if unset, so NO_PROXY still counts
  EXPECT_EQ(ProxySettings::from_environment().for_url(mirror), nullptr);
}

}  // namespace
}  // namespace rerankd::hub
