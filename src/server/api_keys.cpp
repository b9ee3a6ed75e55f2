#include "server/api_keys.h"

#include <boost/beast/core/string.hpp>

#include <algorithm>
#include <fstream>

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

ApiKeys::ApiKeys(std::vector<std::string> keys) {
  for (size_t i = 0; i < keys.size(); ++i) {
    const std::string_view key = trim(keys[i]);
    // Dropping it would leave the server open while the operator believes it needs a key.
    if (key.empty()) {
      throw Error(Error::Kind::kInvalidInput, "API key " + std::to_string(i + 1) + " of " + std::to_string(keys.size()) +
                                                  " is blank (--api-key, RERANKD_API_KEYS or the key file)");
    }
    keys_.emplace_back(key);
  }
}

std::vector<std::string> ApiKeys::read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(Error::Kind::kIo, path + ": cannot open the API key file");
  std::vector<std::string> keys;
  std::string line;
  while (std::getline(in, line)) {
    const std::string_view key = trim(line);
    if (!key.empty() && key.front() != '#') keys.emplace_back(key);
  }
  if (keys.empty()) throw Error(Error::Kind::kInvalidInput, path + ": the API key file holds no key");
  return keys;
}

bool ApiKeys::allows(std::string_view authorization) const {
  constexpr std::string_view kScheme = "Bearer ";
  // The scheme is case-insensitive (RFC 9110); the key is not.
  if (authorization.size() <= kScheme.size() || !boost::beast::iequals(authorization.substr(0, kScheme.size()), kScheme)) {
    return false;
  }
  const std::string_view presented = trim(authorization.substr(kScheme.size()));
  bool found = false;
  for (const auto& key : keys_) found |= equal_constant_time(presented, key);  // no early exit
  return found;
}

}  // namespace rerankd::server
