#pragma once
// Optional bearer API keys. When any key is configured, every route but /health (which load
// balancers and orchestrators probe without credentials) and the page at / (which then asks for a
// key) needs `Authorization: Bearer <key>`.
// Keys are compared in constant time, so response timing does not reveal how much of a guess
// matched, and they never appear in logs or /info.
#include <string>
#include <string_view>
#include <vector>

namespace rerankd::server {

class ApiKeys {
 public:
  ApiKeys() = default;
  // Surrounding whitespace is trimmed; a blank key throws Error (kInvalidInput).
  explicit ApiKeys(std::vector<std::string> keys);

  // One key per line; blank lines and lines starting with '#' are skipped. Throws Error naming the
  // file when it cannot be read or holds no key.
  static std::vector<std::string> read_file(const std::string& path);

  bool enabled() const { return !keys_.empty(); }

  // Whether an Authorization header value carries one of the keys.
  bool allows(std::string_view authorization) const;

 private:
  std::vector<std::string> keys_;
};

}  // namespace rerankd::server
