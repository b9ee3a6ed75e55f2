#include "server/api_keys.h"

#include <openssl/evp.h>

#include <boost/beast/core/string.hpp>

#include <algorithm>
#include <fstream>
#include <map>

#include "common/error.h"

namespace rerankd::server {
namespace {

// Equal iff same length and bytes; the time depends only on the lengths, not on where they differ.
bool equal_constant_time(std::string_view a, std::string_view b) {
  const size_t n = std::max(a.size(), b.size());
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
    const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

// Surrounding whitespace is never part of a key: a Kubernetes secret's file ends in a newline.
constexpr std::string_view kWhitespace = " \t\r\n\v\f";
std::string_view trim(std::string_view s) {
  const auto begin = s.find_first_not_of(kWhitespace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kWhitespace) - begin + 1);
}

}  // namespace

std::string key_id(std::string_view key) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(key.data(), key.size(), digest, &size, EVP_sha256(), nullptr) != 1 || size < 4) {
    throw Error(Error::Kind::kInternal, "SHA-256 failed (OpenSSL)");
  }
  constexpr char kHex[] = "0123456789abcdef";
  std::string id = "key-";
  for (int i = 0; i < 4; ++i) {
    id += kHex[digest[i] >> 4];
    id += kHex[digest[i] & 0xf];
  }
  return id;
}

ApiKeys::ApiKeys(std::vector<std::string> keys) {
  std::map<std::string, std::string_view> key_of_id;  // to tell a repeated key from a collision
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string_view key = trim(keys[i]);
    // Dropping it would leave the server open while the operator believes it needs a key.
    if (key.empty()) {
      throw Error(Error::Kind::kInvalidInput, "API key " + std::to_string(i + 1) + " of " + std::to_string(keys.size()) +
                                                  " is blank (--api-key, RERANKD_API_KEYS or the key file)");
    }
    std::string id = key_id(key);
    const auto [seen, first] = key_of_id.emplace(id, key);
    // Two keys would share one tenant's rate limits and share: the operator must tell them apart.
    if (!first && seen->second != key) {
      throw Error(Error::Kind::kInvalidInput, "two different API keys have the same id " + id + ": replace one of them");
    }
    if (first) ids_.push_back(id);
    keys_.emplace_back(key);
    key_ids_.push_back(std::move(id));
  }
}

std::vector<std::string> ApiKeys::read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(Error::Kind::kIo, path + ": cannot open the API key file");
  return read_lines(in, path + ": the API key file");
}

std::vector<std::string> ApiKeys::read_lines(std::istream& in, const std::string& source) {
  std::vector<std::string> keys;
  std::string line;
  while (std::getline(in, line)) {
    const std::string_view key = trim(line);
    if (!key.empty() && key.front() != '#') keys.emplace_back(key);
  }
  if (keys.empty()) throw Error(Error::Kind::kInvalidInput, source + " holds no key");
  return keys;
}

const std::string* ApiKeys::id_of(std::string_view authorization) const {
  constexpr std::string_view kScheme = "Bearer ";
  // The scheme is case-insensitive (RFC 9110); the key is not.
  if (authorization.size() <= kScheme.size() || !boost::beast::iequals(authorization.substr(0, kScheme.size()), kScheme)) {
    return nullptr;
  }
  const std::string_view presented = trim(authorization.substr(kScheme.size()));
  const std::string* found = nullptr;
  for (size_t i = 0; i < keys_.size(); ++i) {  // no early exit
    const bool match = equal_constant_time(presented, keys_[i]);
    found = match ? &key_ids_[i] : found;
  }
  return found;
}

}  // namespace rerankd::server
