#include "hub/proxy_settings.h"

#include <openssl/evp.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <cstdlib>

#include "common/address_block.h"
#include "common/error.h"

namespace rerankd::hub {
namespace {

namespace ip = boost::asio::ip;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The first of `names` that is set and not empty, with the name it was found under.
std::pair<std::string, std::string> first_env(std::initializer_list<const char*> names) {
  for (const char* name : names) {
    const char* value = std::getenv(name);
    if (value != nullptr && *value != '\0') return {name, value};
  }
  return {"", ""};
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<Proxy> proxy_from(std::initializer_list<const char*> names) {
  const auto [name, value] = first_env(names);
  if (name.empty()) return std::nullopt;
  return parse_proxy(value, name);
}

}  // namespace

std::string Proxy::describe() const { return "the proxy " + shown + " (" + variable + ")"; }

Proxy parse_proxy(const std::string& text, const std::string& variable) {
  const size_t scheme_end = text.find("://");
  // "proxy:3128" without a scheme is an http:// proxy, as requests reads it.
  if (scheme_end != std::string::npos && lower(text.substr(0, scheme_end)) != "http") {
    throw Error(Error::Kind::kInvalidInput,
                variable + "=" + text + ": only http:// proxies are supported (an https:// target is still "
                                        "end-to-end TLS through them, by CONNECT)");
  }
  Proxy proxy;
  proxy.variable = variable;
  std::string_view rest = std::string_view(text).substr(scheme_end == std::string::npos ? 0 : scheme_end + 3);
  const size_t end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, end);
  std::string shown = "http://";
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    const size_t colon = userinfo.find(':');
    const std::string user = percent_decode(userinfo.substr(0, colon));
    const std::string password = colon == std::string_view::npos ? "" : percent_decode(userinfo.substr(colon + 1));
    proxy.authorization = "Basic " + base64(user + ":" + password);
    shown.append(userinfo.substr(0, colon));
    shown += '@';
    rest.remove_prefix(at + 1);
  }
  // Appends rather than operator+ chains, which trip GCC 12's -Wrestrict false positive.
  std::string address = "http://";
  address.append(rest);
  proxy.address = parse_hub_url(address, variable);
  shown += proxy.address.authority();
  proxy.shown = std::move(shown);
  return proxy;
}

bool no_proxy_matches(const std::string& raw_entry, const std::string& raw_host, uint16_t port) {
  std::string entry = lower(raw_entry);
  const std::string host = lower(raw_host);
  if (entry == "*") return true;
  // An optional ":port" (after "]" for a bracketed IPv6 address; a bare IPv6 address has no port).
  std::optional<uint16_t> entry_port;
  const size_t colon = entry.rfind(':');
  const bool bracketed = entry.starts_with("[");
  if (colon != std::string::npos && (bracketed ? colon > entry.find(']') : entry.find(':') == colon)) {
    const std::string digits = entry.substr(colon + 1);
    if (digits.empty() || digits.size() > 5 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return false;
    entry_port = static_cast<uint16_t>(std::stoul(digits));
    entry.resize(colon);
  }
  if (bracketed) {
    if (!entry.ends_with("]")) return false;
    entry = entry.substr(1, entry.size() - 2);
  }
  if (entry_port && *entry_port != port) return false;
  boost::system::error_code ec;
  const ip::address address = ip::make_address(host, ec);
  if (!ec) {
    const std::optional<AddressBlock> block = AddressBlock::parse(entry);
    return block && block->contains(address);
  }
  if (entry.starts_with(".")) entry.erase(0, 1);
  if (entry.empty()) return false;
  return host == entry || (host.size() > entry.size() && host.ends_with(entry) &&
                           host[host.size() - entry.size() - 1] == '.');
}

ProxySettings ProxySettings::from_environment() {
  ProxySettings s;
  s.http = proxy_from({"http_proxy", "HTTP_PROXY"});
  s.https = proxy_from({"https_proxy", "HTTPS_PROXY"});
  const std::string list = first_env({"no_proxy", "NO_PROXY"}).second;
  std::string entry;
  for (const char c : list + ",") {
    if (c == ',' || std::isspace(static_cast<unsigned char>(c))) {
      if (!entry.empty()) s.no_proxy.push_back(std::move(entry));
      entry.clear();
    } else {
      entry += c;
    }
  }
  return s;
}

const Proxy* ProxySettings::for_url(const HubUrl& url) const {
  const std::optional<Proxy>& proxy = url.tls ? https : http;
  if (!proxy) return nullptr;
  for (const auto& entry : no_proxy) {
    if (no_proxy_matches(entry, url.host, url.port)) return nullptr;
  }
  return &*proxy;
}

}  // namespace rerankd::hub
