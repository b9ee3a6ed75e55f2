#pragma once
// Optional bearer API keys. When any key is configured, every route but /health (which load
// balancers and orchestrators probe without credentials) and the page at / (which then asks for a
// key) needs `Authorization: Bearer <key>`.
// Keys are compared in constant time, so response timing does not reveal how much of a guess
// matched, and they never appear in logs, metrics or /info: a key is named there by its id.
#include <istream>
#include <string>
#include <string_view>
#include <vector>

namespace rerankd::server {

// "key-" and the first 8 hex digits of the key's SHA-256: names a key in logs, metrics, /info and
// tenant settings (`rerankd key-id` prints it) without revealing it.
std::string key_id(std::string_view key);

class ApiKeys {
 public:
  ApiKeys() = default;
  // Surrounding whitespace is trimmed; a blank key, or two different keys with the same id,
  // throws Error (kInvalidInput).
  explicit ApiKeys(std::vector<std::string> keys);

  // One key per line; blank lines and lines starting with '#' are skipped. Throws Error naming the
  // file when it cannot be read or holds no key.
  static std::vector<std::string> read_file(const std::string& path);
  // The same format from a stream; `source` names it in the error for one that holds no key.
  static std::vector<std::string> read_lines(std::istream& in, const std::string& source);

  bool enabled() const { return !keys_.empty(); }

  // Whether an Authorization header value carries one of the keys.
  bool allows(std::string_view authorization) const { return id_of(authorization) != nullptr; }
  // The id of the key an Authorization header value carries, or nullptr for none. The time taken
  // does not depend on which key (if any) matched.
  const std::string* id_of(std::string_view authorization) const;

  // Each key's id, in the order given (duplicates once).
  const std::vector<std::string>& ids() const { return ids_; }

 private:
  std::vector<std::string> keys_;
  std::vector<std::string> key_ids_;  // key_ids_[i] is keys_[i]'s
  std::vector<std::string> ids_;
};

}  // namespace rerankd::server
