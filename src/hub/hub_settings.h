#pragma once
// Where the hub is and how to reach it, read from the environment variables Hugging Face's own
// tools read, so that one setting serves rerankd, huggingface_hub and transformers alike.
#include <chrono>
#include <filesystem>
#include <string>

#include "hub/hub_url.h"
#include "hub/proxy_settings.h"

namespace rerankd::hub {

struct HubSettings {
  HubUrl endpoint;                  // HF_ENDPOINT, default https://huggingface.co
  std::filesystem::path cache_dir;  // HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub
  std::string token;                // HF_TOKEN, else the file HF_TOKEN_PATH or $HF_HOME/token; may be empty
  std::string token_source;         // where the token came from, for error messages
  bool offline = false;             // HF_HUB_OFFLINE: the cache only, never the network
  std::string ca_file;              // SSL_CERT_FILE or REQUESTS_CA_BUNDLE; empty: the system store
  ProxySettings proxies;            // HTTPS_PROXY, HTTP_PROXY, NO_PROXY (and their lower-case forms)
  std::chrono::milliseconds metadata_timeout{10'000};  // HF_HUB_ETAG_TIMEOUT (seconds)
  std::chrono::milliseconds read_timeout{10'000};      // HF_HUB_DOWNLOAD_TIMEOUT (seconds): idle time per read
  bool progress_bar = true;                            // HF_HUB_DISABLE_PROGRESS_BARS turns the terminal line off

  // Throws Error(kInvalidInput) naming the variable when one is malformed.
  static HubSettings from_environment();
};

}  // namespace rerankd::hub
