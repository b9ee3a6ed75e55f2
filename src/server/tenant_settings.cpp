#include "server/tenant_settings.h"

#include <charconv>
#include <cmath>
#include <set>

#include "common/error.h"
#include "server/client_identity.h"

namespace rerankd::server {
namespace {

constexpr std::string_view kForm = "ID:weight=W,requests=R,pairs=P (any of the three)";

double number(std::string_view text, bool& ok) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  ok = !text.empty() && error == std::errc() && end == text.data() + text.size() && std::isfinite(value);
  return value;
}

}  // namespace

TenantSettings parse_tenant(std::string_view spec, std::string_view source) {
  const auto fail = [&](const std::string& why) {
    return Error(Error::Kind::kInvalidInput, std::string(source) + " '" + std::string(spec) + "': " + why);
  };
  // The settings hold no ':'; an IPv6 identity does.
  const size_t colon = spec.rfind(':');
  if (colon == std::string_view::npos) throw fail("give " + std::string(kForm));
  TenantSettings t;
  t.id = std::string(spec.substr(0, colon));
  if (!ClientIdentity::is_canonical(t.id)) {
    throw fail("'" + t.id + "' is not a client identity: key-XXXXXXXX (`rerankd key-id` prints a key's), or "
                             "addr-ADDRESS (addr-192.0.2.7; IPv6 by its /64: addr-2001:db8:1:2::/64)");
  }
  std::string_view rest = spec.substr(colon + 1);
  if (rest.empty()) throw fail("no settings: give " + std::string(kForm));
  std::set<std::string_view> seen;
  for (bool more = true; more;) {  // "weight=2," has an empty second setting, refused
    const size_t comma = rest.find(',');
    more = comma != std::string_view::npos;
    const std::string_view item = rest.substr(0, comma);
    rest = more ? rest.substr(comma + 1) : std::string_view();
    const size_t eq = item.find('=');
    const std::string_view name = item.substr(0, eq);
    bool ok = eq != std::string_view::npos;
    const double value = ok ? number(item.substr(eq + 1), ok) : 0;
    if (!seen.insert(name).second) throw fail(std::string(name) + " given twice");
    if (name == "weight") {
      if (!ok || value <= 0) throw fail("weight must be a number above 0, not '" + std::string(item) + "'");
      t.weight = value;
    } else if (name == "requests" || name == "pairs") {
      if (!ok || value < 0) throw fail(std::string(name) + " must be a number of at least 0 (per second; 0: no limit), not '" + std::string(item) + "'");
      (name == "requests" ? t.requests_per_second : t.pairs_per_second) = value;
    } else {
      throw fail("unknown setting '" + std::string(item) + "': give " + std::string(kForm));
    }
  }
  return t;
}

std::vector<TenantSettings> parse_tenants(std::span<const std::string> specs, std::string_view source) {
  std::vector<TenantSettings> tenants;
  std::set<std::string> ids;
  for (const std::string& spec : specs) {
    tenants.push_back(parse_tenant(spec, source));
    if (!ids.insert(tenants.back().id).second) {
      throw Error(Error::Kind::kInvalidInput, std::string(source) + ": tenant " + tenants.back().id + " is given twice");
    }
  }
  return tenants;
}

}  // namespace rerankd::server
