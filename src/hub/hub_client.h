#pragma once
// The hub's resolve protocol, file by file (as huggingface_hub's file_download speaks it):
//   HEAD {endpoint}/{repo}/resolve/{revision}/{file}
//     200, or a 3xx to the file store for files in Git LFS; X-Repo-Commit names the commit the
//     revision stands for, X-Linked-Etag / X-Linked-Size (LFS) or ETag / Content-Length the content;
//     401/403/404 with X-Error-Code (RepoNotFound, GatedRepo, RevisionNotFound, EntryNotFound).
//   GET of the same URL, or of where the HEAD redirected, following redirects; Authorization only
//   to the endpoint's own origin; Range to resume a partial blob.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "common/error.h"
#include "hub/download_progress.h"
#include "hub/http_fetch.h"
#include "hub/hub_settings.h"
#include "hub/repo_cache.h"

namespace rerankd::hub {

struct RemoteFile {
  std::string name;    // path in the repository
  std::string commit;  // X-Repo-Commit
  std::string etag;    // normalized: the blob's name in the cache
  std::optional<uint64_t> size;
  HubUrl url;          // where to GET it (the file store when the HEAD redirected there)
};

class HubClient {
 public:
  HubClient(const HubSettings& settings, const std::string& repo_id);

  // The metadata of `file` at `revision`. For a file the repository lacks (404), nullopt when
  // `optional`, else Error(kInvalidInput) saying so; 401/403 become errors naming the token
  // variables; other failures Error(kUnavailable).
  std::optional<RemoteFile> metadata(const std::string& revision, const std::string& file, bool optional);

  // Makes blobs/<etag> hold `file`'s verified content: resumes a partial blobs/<etag>.incomplete,
  // checks the size and the digest the ETag stands for, renames into place. Safe against another
  // process fetching the same blob (huggingface_hub's lock file). Throws Error(kIo) for a
  // mismatch (the partial file is removed) or a full disk, Error(kUnavailable) when the
  // connection keeps failing (the partial file stays for the next run).
  void fetch(const RemoteFile& file, const RepoCache& cache, DownloadProgress& progress);

 private:
  HttpHeaders auth_headers(const HubUrl& url) const;
  [[noreturn]] void fail_status(const HttpResponse& response, const std::string& revision, const std::string& file) const;
  void fetch_locked(const RemoteFile& file, const RepoCache& cache, DownloadProgress& progress);
  // GETs the rest of the file into the partial file `part` open as `fd`, which holds `have` bytes
  // (counted up as bytes arrive); follows redirects, starts over when the server ignores the byte
  // range.
  void get_into(const RemoteFile& file, const std::filesystem::path& part, int fd, uint64_t& have,
                DownloadProgress& progress);
  // A failed write of `part` with `have` bytes in it: for a full disk (or quota, or file size
  // limit), the cache directory, the bytes written and the file's size.
  Error write_failure(const RemoteFile& file, const std::filesystem::path& part, uint64_t have, int error) const;

  const HubSettings& settings_;
  std::string repo_id_;
  HttpFetcher http_;
};

}  // namespace rerankd::hub
