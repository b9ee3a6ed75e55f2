#include "hub/hub_settings.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace rerankd::hub {
namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

// huggingface_hub's truthy spellings.
bool env_true(const char* name) {
  std::string v = env(name);
  std::transform(v.begin(), v.end(), v.begin(), [](unsigned char c) { return std::tolower(c); });
  return v == "1" || v == "on" || v == "yes" || v == "true";
}

std::chrono::milliseconds env_seconds(const char* name, std::chrono::milliseconds fallback) {
  const std::string v = env(name);
  if (v.empty()) return fallback;
  double seconds = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
  if (ec != std::errc() || end != v.data() + v.size() || !(seconds > 0) || seconds > 86400) {
    throw Error(Error::Kind::kInvalidInput, std::string(name) + "=" + v + ": not a number of seconds in (0, 86400]");
  }
  return std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

std::string trim(std::string s) {
  const auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  s.erase(s.begin(), std::find_if_not(s.begin(), s.end(), space));
  s.erase(std::find_if_not(s.rbegin(), s.rend(), space).base(), s.end());
  return s;
}

}  // namespace

HubSettings HubSettings::from_environment() {
  HubSettings s;
  const std::string endpoint = env("HF_ENDPOINT");
  std::string trimmed = endpoint.empty() ? "https://huggingface.co" : endpoint;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  s.endpoint = parse_hub_url(trimmed, "HF_ENDPOINT");
  if (s.endpoint.target == "/") s.endpoint.target.clear();  // a mirror may live under a path prefix

  std::filesystem::path home = env("HF_HOME");
  if (home.empty()) {
    const std::string xdg = env("XDG_CACHE_HOME");
    home = !xdg.empty() ? std::filesystem::path(xdg) / "huggingface"
                        : std::filesystem::path(env("HOME")) / ".cache" / "huggingface";
  }
  s.cache_dir = env("HF_HUB_CACHE");
  if (s.cache_dir.empty()) s.cache_dir = env("HUGGINGFACE_HUB_CACHE");  // the older name
  if (s.cache_dir.empty()) s.cache_dir = home / "hub";

  s.token = trim(env("HF_TOKEN"));
  s.token_source = "HF_TOKEN";
  if (s.token.empty()) {
    const std::string path_env = env("HF_TOKEN_PATH");
    const std::filesystem::path path = !path_env.empty() ? std::filesystem::path(path_env) : home / "token";
    std::ifstream in(path);
    if (in) {
      std::stringstream text;
      text << in.rdbuf();
      s.token = trim(text.str());
      s.token_source = "the token file " + path.string();
    }
  }
  s.offline = env_true("HF_HUB_OFFLINE");
  s.ca_file = env("SSL_CERT_FILE");
  if (s.ca_file.empty()) s.ca_file = env("REQUESTS_CA_BUNDLE");
  s.proxies = ProxySettings::from_environment();
  s.metadata_timeout = env_seconds("HF_HUB_ETAG_TIMEOUT", s.metadata_timeout);
  s.read_timeout = env_seconds("HF_HUB_DOWNLOAD_TIMEOUT", s.read_timeout);
  s.progress_bar = !env_true("HF_HUB_DISABLE_PROGRESS_BARS");
  return s;
}

}  // namespace rerankd::hub
