#pragma once
// `serve`'s settings of who may use the server and how much: API keys, trusted proxies, rate
// limits and tenants, from flags, RERANKD_* variables or the config file alike.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "server/server_options.h"

namespace rerankd::tools {

struct AccessArgs {
  std::vector<std::string> api_keys;
  std::string api_key_file;
  std::vector<std::string> trusted_proxies;
  std::vector<std::string> tenants;
  const CLI::Option* api_key_file_option = nullptr;
};

// Registers the flags; the rate limits go straight into `options`.
void add_access_options(CLI::App& cmd, AccessArgs& args, server::ServerOptions& options);

// Fills `options`' keys, trusted proxies and tenants, and logs what the keys and tenants are (by
// id). Throws Error(kInvalidInput) naming the flag, variable or file for a source of keys that is
// set but holds no key (a missing secret must not start a server without keys), an address block
// or a tenant that does not parse.
void apply_access_options(const AccessArgs& args, server::ServerOptions& options);

}  // namespace rerankd::tools
