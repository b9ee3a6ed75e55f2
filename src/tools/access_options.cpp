#include "tools/access_options.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <set>

#include "common/error.h"
#include "server/api_keys.h"

namespace rerankd::tools {
namespace {

constexpr const char* kKeysVariable = "RERANKD_API_KEYS";
constexpr const char* kKeyFileVariable = "RERANKD_API_KEY_FILE";

// CLI11 reads a variable that is set but empty, or holds only commas, as unset: exactly what a
// missing Kubernetes secret gives. Such a variable asked for keys and brought none.
void refuse_set_but_empty_key_sources(const AccessArgs& args) {
  if (const char* keys = std::getenv(kKeysVariable); keys != nullptr) {
    const std::string_view text = keys;
    if (text.find_first_not_of(", \t\r\n\v\f") == std::string_view::npos) {
      throw Error(Error::Kind::kInvalidInput,
                  std::string(kKeysVariable) + " is set but holds no key (empty, blank or only commas: a missing "
                                               "secret?). Set the keys, or unset it to serve without keys");
    }
  }
  const char* file = std::getenv(kKeyFileVariable);
  const bool file_named = args.api_key_file_option->count() > 0 || (file != nullptr);
  if (file_named && args.api_key_file.empty()) {
    throw Error(Error::Kind::kInvalidInput,
                std::string("--api-key-file (") + kKeyFileVariable +
                    ", api-key-file in the config file) is set but empty (a missing secret?). Name the key file, "
                    "or leave it unset to serve without keys");
  }
}

std::vector<AddressBlock> parse_blocks(const std::vector<std::string>& texts) {
  std::vector<AddressBlock> blocks;
  for (const std::string& text : texts) {
    const std::optional<AddressBlock> block = AddressBlock::parse(text);
    if (!block) {
      throw Error(Error::Kind::kInvalidInput, "--trusted-proxy (RERANKD_TRUSTED_PROXIES, trusted-proxy in the config "
                                              "file) '" + text + "': not an address or CIDR block (10.0.0.0/8, fd00::/8)");
    }
    blocks.push_back(*block);
  }
  return blocks;
}

void log_identities(const server::ServerOptions& o, const std::vector<std::string>& key_ids) {
  if (!key_ids.empty()) {
    std::string ids;
    for (const std::string& id : key_ids) ids += (ids.empty() ? "" : ", ") + id;
    spdlog::info("API keys required on every route but /health and / ({} keys: {})", key_ids.size(), ids);
  }
  const std::set<std::string> known(key_ids.begin(), key_ids.end());
  for (const server::TenantSettings& t : o.tenants) {
    // Not an error: a key may be out of the list for a while, its settings kept for its return.
    if (!key_ids.empty() && !known.contains(t.id)) spdlog::warn("--tenant {} is none of the API keys' ids", t.id);
  }
  const server::RateLimitOptions& r = o.rate_limits;
  if (r.pairs_per_second > 0 && r.pairs_per_second * r.burst_seconds < static_cast<double>(o.max_client_batch_size)) {
    spdlog::warn("a client's pairs/s bucket holds {} pairs (--rate-limit-pairs x --rate-limit-burst-seconds): "
                 "requests of more documents are refused 413",
                 std::max(1.0, r.pairs_per_second * r.burst_seconds));
  }
}

}  // namespace

void add_access_options(CLI::App& cmd, AccessArgs& args, server::ServerOptions& options) {
  server::RateLimitOptions& r = options.rate_limits;
  cmd.add_option("--api-key", args.api_keys,
                 "Require 'Authorization: Bearer KEY' on every route but /health and / (repeat for several keys; "
                 "prefer --api-key-file or the environment: command lines are visible to other users). Set but "
                 "holding no key, it stops start-up")
      ->envname(kKeysVariable)
      ->delimiter(',');
  args.api_key_file_option =
      cmd.add_option("--api-key-file", args.api_key_file, "File of API keys, one per line ('#' comments)")
          ->envname(kKeyFileVariable);
  cmd.add_option("--trusted-proxy", args.trusted_proxies,
                 "Address or CIDR block of a proxy in front of the server whose X-Forwarded-For names the client "
                 "(repeat, or separate with commas). Without API keys a client is its address, for rate limits")
      ->envname("RERANKD_TRUSTED_PROXIES")
      ->delimiter(',');
  cmd.add_option("--rate-limit-requests", r.requests_per_second,
                 "Requests/s per client (an API key, else an address); beyond it 429 with Retry-After. 0: none")
      ->envname("RERANKD_RATE_LIMIT_REQUESTS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd.add_option("--rate-limit-pairs", r.pairs_per_second,
                 "Pairs (documents) per second per client; beyond it 429 with Retry-After. 0: none")
      ->envname("RERANKD_RATE_LIMIT_PAIRS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd.add_option("--rate-limit-burst-seconds", r.burst_seconds,
                 "Seconds of its rate a client may send at once (the token bucket's size; at least one request "
                 "and one pair). A request of more documents than its pairs bucket holds is refused 413")
      ->envname("RERANKD_RATE_LIMIT_BURST_SECONDS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd.add_option("--tenant", args.tenants,
                 "A client's own settings, ID:weight=W,requests=R,pairs=P (any of the three): ID is key-XXXXXXXX "
                 "(`rerankd key-id` prints a key's) or addr-ADDRESS; weight its share of the model (1 by "
                 "default), requests and pairs its rate limits in place of the server's (0: none). Repeat it; "
                 "RERANKD_TENANTS separates tenants with ';'")
      ->envname("RERANKD_TENANTS")
      ->delimiter(';');
}

void apply_access_options(const AccessArgs& args, server::ServerOptions& options) {
  refuse_set_but_empty_key_sources(args);
  options.api_keys = args.api_keys;
  if (!args.api_key_file.empty()) {
    for (auto& key : server::ApiKeys::read_file(args.api_key_file)) options.api_keys.push_back(std::move(key));
  }
  const server::ApiKeys keys(options.api_keys);  // a blank key stops start-up here, before the model loads
  options.trusted_proxies = parse_blocks(args.trusted_proxies);
  options.tenants = server::parse_tenants(args.tenants, "--tenant (RERANKD_TENANTS, tenant in the config file)");
  log_identities(options, keys.ids());
}

}  // namespace rerankd::tools
