#include "hub/etag_digest.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>

#include "common/error.h"

namespace rerankd::hub {
namespace {

bool is_hex(const std::string& s, size_t length) {
  return s.size() == length && std::all_of(s.begin(), s.end(), [](unsigned char c) {
           return std::isdigit(c) || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

struct EtagDigest::Ctx {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  ~Ctx() { EVP_MD_CTX_free(md); }
};

EtagDigest::EtagDigest(const std::string& etag, uint64_t size) {
  const EVP_MD* md = nullptr;
  if (is_hex(etag, 64)) {
    md = EVP_sha256();
  } else if (is_hex(etag, 40)) {
    md = EVP_sha1();
    git_ = true;
  } else {
    return;
  }
  ctx_ = std::make_unique<Ctx>();
  if (ctx_->md == nullptr || EVP_DigestInit_ex(ctx_->md, md, nullptr) != 1) {
    throw Error(Error::Kind::kInternal, "OpenSSL: cannot start a digest");
  }
  if (git_) {
    const std::string header = "blob " + std::to_string(size);
    update(header.c_str(), header.size() + 1);  // with its terminating NUL, as git hashes it
  }
}

EtagDigest::~EtagDigest() = default;

void EtagDigest::update(const char* data, size_t size) {
  if (ctx_ && EVP_DigestUpdate(ctx_->md, data, size) != 1) throw Error(Error::Kind::kInternal, "OpenSSL: digest failed");
}

std::string EtagDigest::hex() {
  if (!ctx_) return "";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx_->md, digest, &length) != 1) throw Error(Error::Kind::kInternal, "OpenSSL: digest failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

std::string normalize_etag(std::string value) {
  if (value.starts_with("W/")) value.erase(0, 2);
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
  return value;
}

}  // namespace rerankd::hub
