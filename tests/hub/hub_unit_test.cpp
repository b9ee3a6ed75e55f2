// Units of the hub client that need no server: URLs and redirects, hub ids, ETags and the digests
// they stand for (expected values are the published SHA-256 of "abc" and git's blob id of "hello\n",
// as `git hash-object` prints it), the cache layout and the completeness check.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"
#include "hub/etag_digest.h"
#include "hub/hub_url.h"
#include "hub/model_files.h"
#include "hub/model_source.h"
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

}  // namespace
}  // namespace rerankd::hub
