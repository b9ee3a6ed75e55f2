#pragma once
// What an operator says about one tenant (a client identity, client_identity.h): its weight in
// fair shares of the model's time, and rate limits of its own in place of the server-wide ones.
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rerankd::server {

struct TenantSettings {
  std::string id;     // "key-1a2b3c4d" or "addr-192.0.2.7": a ClientIdentity's text
  double weight = 1;  // its share of the model's time, against the others' (1 each by default)
  std::optional<double> requests_per_second;  // absent: the server-wide limit; 0: none
  std::optional<double> pairs_per_second;
};

// "ID:weight=W,requests=R,pairs=P", at least one setting, each at most once: weight > 0, rates
// >= 0. Throws Error(kInvalidInput) naming `source` (the flag, variable and config entry) and
// the spec.
TenantSettings parse_tenant(std::string_view spec, std::string_view source);

// Each of `specs`; an id given twice is an error too.
std::vector<TenantSettings> parse_tenants(std::span<const std::string> specs, std::string_view source);

}  // namespace rerankd::server
