#pragma once
// What the hub's ETag of a file promises about its bytes: for a file in Git LFS (the weights) the
// linked ETag is the SHA-256 of the content; for a file in plain git (config.json) it is git's blob
// id, SHA-1 over "blob <size>\0" and the content. A download is checked against it before it may
// enter the cache.
#include <cstdint>
#include <memory>
#include <string>

namespace rerankd::hub {

class EtagDigest {
 public:
  // The digest `etag` (unquoted) stands for, given the file's size; an ETag of any other form
  // promises nothing beyond the size, and checks() is false.
  EtagDigest(const std::string& etag, uint64_t size);
  ~EtagDigest();
  EtagDigest(const EtagDigest&) = delete;
  EtagDigest& operator=(const EtagDigest&) = delete;

  bool checks() const { return ctx_ != nullptr; }
  const char* algorithm() const { return git_ ? "git blob sha1" : "sha256"; }
  void update(const char* data, size_t size);
  // Lower-case hex of the digest; call once, after every update.
  std::string hex();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  bool git_ = false;
};

// Strips the quotes and a weak "W/" prefix of an ETag header value, as the cache names blobs.
std::string normalize_etag(std::string value);

}  // namespace rerankd::hub
