#include "hub/model_source.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <optional>
#include <vector>

#include "common/error.h"
#include "hub/hub_client.h"
#include "hub/model_files.h"
#include "hub/repo_cache.h"

namespace rerankd::hub {
namespace fs = std::filesystem;
namespace {

bool is_name(std::string_view part) {
  if (part.empty() || part.size() > 96 || part == "." || part == ".." || part.front() == '-' || part.front() == '.') {
    return false;
  }
  for (const unsigned char c : part) {
    if (!std::isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return part.find("..") == std::string_view::npos && part.find("--") == std::string_view::npos;
}

std::optional<fs::path> cached_snapshot(const RepoCache& cache, const std::string& revision) {
  const auto commit = cache.commit_of(revision);
  if (!commit) return std::nullopt;
  const fs::path snapshot = cache.snapshot(*commit);
  if (!missing_model_file(snapshot).empty()) return std::nullopt;
  return snapshot;
}

}  // namespace

bool is_hub_id(const std::string& text) {
  const size_t slash = text.find('/');
  if (slash == std::string::npos) return is_name(text);
  return is_name(std::string_view(text).substr(0, slash)) && is_name(std::string_view(text).substr(slash + 1));
}

fs::path download_model(const std::string& repo_id, const std::string& revision, const HubSettings& settings) {
  const RepoCache cache(settings.cache_dir, repo_id);
  HubClient client(settings, repo_id);
  spdlog::info("fetching {} (revision {}) from {} into {}", repo_id, revision, settings.endpoint.str(),
               cache.dir().string());

  // config.json first: its answer names the commit, and every later file is asked for at that
  // commit, so that a branch moving mid-download cannot mix two versions.
  std::vector<RemoteFile> files;
  files.push_back(*client.metadata(revision, kConfigFile, false));
  const std::string commit = files.front().commit;
  if (auto single = client.metadata(commit, kWeightsFile, true)) {
    files.push_back(std::move(*single));
  } else if (auto index = client.metadata(commit, kWeightsIndexFile, true)) {
    DownloadProgress log_lines(false);  // a few kilobytes: no progress line
    client.fetch(*index, cache, log_lines);
    cache.link(commit, index->name, index->etag);
    for (const auto& shard : index_shards(cache.snapshot(commit) / kWeightsIndexFile)) {
      files.push_back(*client.metadata(commit, shard, false));
    }
  } else {
    throw Error(Error::Kind::kModelFormat, repo_id + " (revision " + revision + ") has neither " + kWeightsFile +
                                               " nor " + kWeightsIndexFile +
                                               ": rerankd reads safetensors weights only");
  }
  for (const char* name : kTokenizerFiles) {
    if (auto file = client.metadata(commit, name, true)) files.push_back(std::move(*file));
  }

  DownloadProgress progress(settings.progress_bar && ::isatty(STDERR_FILENO) == 1);
  for (const auto& file : files) {
    client.fetch(file, cache, progress);
    // The link last: a snapshot entry only ever points at a complete, verified blob.
    cache.link(commit, file.name, file.etag);
  }
  const fs::path snapshot = cache.snapshot(commit);
  if (const std::string missing = missing_model_file(snapshot); !missing.empty()) {
    throw Error(Error::Kind::kModelFormat, repo_id + " (revision " + revision + ") has no " + missing +
                                               ", which rerankd needs");
  }
  cache.set_ref(revision, commit);
  spdlog::info("{} (revision {}) is commit {}: {}", repo_id, revision, commit, snapshot.string());
  return snapshot;
}

fs::path resolve_model(const std::string& model, const std::string& revision, const HubSettings& settings) {
  std::error_code ec;
  if (fs::is_directory(model, ec)) return model;
  if (!is_hub_id(model)) throw Error(Error::Kind::kIo, model + ": not a model directory (nor a hub id ORG/NAME)");
  const RepoCache cache(settings.cache_dir, model);
  if (const auto snapshot = cached_snapshot(cache, revision)) {
    spdlog::info("{} (revision {}): cached at {}", model, revision, snapshot->string());
    return *snapshot;
  }
  if (settings.offline) {
    throw Error(Error::Kind::kUnavailable, "HF_HUB_OFFLINE is set and " + model + " (revision " + revision +
                                               ") is not complete in the cache " + cache.dir().string() +
                                               "; fetch it once online (rerankd download " + model +
                                               "), or unset HF_HUB_OFFLINE; and no directory " + model + " exists");
  }
  try {
    return download_model(model, revision, settings);
  } catch (const Error& e) {
    // A user who meant a directory and mistyped it should hear that too.
    throw Error(e.kind(), std::string(e.what()) + " (and no directory " + model + " exists)");
  }
}

}  // namespace rerankd::hub
