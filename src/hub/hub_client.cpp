#include "hub/hub_client.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <vector>

#include "common/error.h"
#include "hub/etag_digest.h"

namespace rerankd::hub {
namespace fs = std::filesystem;
namespace {

constexpr int kMaxRedirects = 10;
constexpr int kMaxAttempts = 3;  // per file and run; a partial blob stays for the next run
constexpr const char* kTokenHint = "set HF_TOKEN (or write the token to $HF_HOME/token, or name a file in HF_TOKEN_PATH)";

// Percent-encoding of a path segment (revision: "refs/pr/1" -> "refs%2Fpr%2F1") or, with
// `keep_slash`, of a file path in the repository.
std::string quote(const std::string& text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::optional<uint64_t> parse_size(const std::string& text) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// The cache names blobs by ETag, so an ETag is only accepted when it is a safe file name.
bool safe_blob_name(const std::string& etag) {
  if (etag.empty() || etag.size() > 128 || etag.front() == '.') return false;
  for (const unsigned char c : etag) {
    if (!std::isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

constexpr const char* kSpaceHint = "free space or point HF_HUB_CACHE at a larger disk";

[[noreturn]] void fail_errno(const fs::path& path, const char* what, int error) {
  const std::string hint = error == ENOSPC || error == EDQUOT ? std::string(" (disk full: ") + kSpaceHint + ")" : "";
  throw Error(Error::Kind::kIo, path.string() + ": " + what + ": " + std::strerror(error) + hint);
}

std::string free_bytes(const fs::path& dir) {
  std::error_code ec;
  const auto space = fs::space(dir, ec);
  return ec ? std::string("unknown") : std::to_string(space.available);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// 0, or the errno of the write that failed.
int write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return 0;
}

// Checks `path` against the digest its ETag stands for; "" when it matches (or the ETag promises
// none), else a description of the mismatch.
std::string digest_mismatch(const fs::path& path, const std::string& etag, uint64_t size) {
  EtagDigest digest(etag, size);
  if (!digest.checks()) return "";
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) fail_errno(path, "cannot open", errno);
  std::vector<char> chunk(1 << 20);
  for (;;) {
    const ssize_t n = ::read(fd.get(), chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno(path, "cannot read", errno);
    if (n == 0) break;
    digest.update(chunk.data(), static_cast<size_t>(n));
  }
  const std::string actual = digest.hex();
  if (actual == etag) return "";
  return std::string(digest.algorithm()) + " " + actual + ", the hub's ETag says " + etag;
}

}  // namespace

HubClient::HubClient(const HubSettings& settings, const std::string& repo_id)
    : settings_(settings), repo_id_(repo_id), http_(settings.ca_file, settings.metadata_timeout, settings.proxies) {}

HttpHeaders HubClient::auth_headers(const HubUrl& url) const {
  // The token is for the hub alone: never for the file store a redirect leads to.
  if (settings_.token.empty() || !url.same_origin(settings_.endpoint)) return {};
  return {{"Authorization", "Bearer " + settings_.token}};
}

void HubClient::fail_status(const HttpResponse& response, const std::string& revision, const std::string& file) const {
  const std::string code = response.header("x-error-code");
  const std::string detail = response.header("x-error-message");
  const std::string hub = settings_.endpoint.str();
  const std::string said = detail.empty() ? "" : " (the hub says: " + detail + ")";
  const unsigned status = response.status;
  if (status == 401 || status == 403) {
    std::string message;
    if (code == "GatedRepo") {
      message = repo_id_ + " is a gated model: accept its conditions at " + hub + "/" + repo_id_ + " while logged in, then ";
      message += settings_.token.empty() ? kTokenHint : "check that the token from " + settings_.token_source +
                                                           " belongs to that account";
    } else if (code == "RepoNotFound") {
      message = "no model " + repo_id_ + " at " + hub + " (or it is private: " + kTokenHint + ")";
    } else if (settings_.token.empty()) {
      message = repo_id_ + " needs a token: " + kTokenHint;
    } else {
      message = "the hub refused the token from " + settings_.token_source + " for " + repo_id_;
    }
    throw Error(Error::Kind::kInvalidInput, message + " [HTTP " + std::to_string(status) + "]" + said);
  }
  if (status == 404) {
    std::string message;
    if (code == "RepoNotFound") {
      message = "no model " + repo_id_ + " at " + hub;
    } else if (code == "RevisionNotFound") {
      message = repo_id_ + " has no revision '" + revision + "'";
    } else {
      message = repo_id_ + " has no file " + file + (revision.empty() ? "" : " at revision '" + revision + "'");
    }
    throw Error(Error::Kind::kInvalidInput, message + " [HTTP 404]" + said);
  }
  throw Error(Error::Kind::kUnavailable,
              hub + " answered HTTP " + std::to_string(status) + " for " + repo_id_ + "/" + file + said);
}

std::optional<RemoteFile> HubClient::metadata(const std::string& revision, const std::string& file, bool optional) {
  HubUrl url = settings_.endpoint;
  url.target += "/" + repo_id_ + "/resolve/" + quote(revision, false) + "/" + quote(file, true);
  RemoteFile remote;
  remote.name = file;
  HttpResponse response;
  for (int hop = 0;; ++hop) {
    response = http_.send(url, "HEAD", auth_headers(url), {}, settings_.metadata_timeout);
    if (response.status >= 300 && response.status < 400) {
      const std::string location = response.header("location");
      if (location.empty()) fail_status(response, revision, file);
      const HubUrl next = resolve_location(url, location);
      // Within the hub (a renamed repository): follow. To the file store: that is where the
      // content lives, and this response already carries its metadata.
      if (next.same_origin(url) && hop < kMaxRedirects) {
        url = next;
        continue;
      }
      remote.url = next;
      break;
    }
    if (response.status >= 200 && response.status < 300) {
      remote.url = url;
      break;
    }
    const std::string code = response.header("x-error-code");
    if (response.status == 404 && optional && (code.empty() || code == "EntryNotFound")) return std::nullopt;
    fail_status(response, revision, file);
  }
  const auto not_a_hub = [&](const std::string& what) {
    return Error(Error::Kind::kUnavailable, settings_.endpoint.str() + " gave " + repo_id_ + "/" + file + " " + what +
                                                ": is HF_ENDPOINT a Hugging Face hub or mirror?");
  };
  remote.commit = response.header("x-repo-commit");
  if (remote.commit.empty() && is_commit_hash(revision)) remote.commit = revision;
  if (!is_commit_hash(remote.commit)) throw not_a_hub("no commit id (X-Repo-Commit)");
  const std::string linked = response.header("x-linked-etag");
  remote.etag = normalize_etag(!linked.empty() ? linked : response.header("etag"));
  if (!safe_blob_name(remote.etag)) throw not_a_hub("no usable ETag ('" + remote.etag + "')");
  const std::string linked_size = response.header("x-linked-size");
  remote.size = parse_size(!linked_size.empty() ? linked_size : response.header("content-length"));
  return remote;
}

void HubClient::fetch(const RemoteFile& file, const RepoCache& cache, DownloadProgress& progress) {
  const fs::path blob = cache.blob(file.etag);
  std::error_code ec;
  if (fs::is_regular_file(blob, ec)) return;
  for (const fs::path& dir : {blob.parent_path(), cache.lock_file(file.etag).parent_path()}) {
    fs::create_directories(dir, ec);
    if (ec) fail_errno(dir, "cannot create", ec.value());
  }
  const fs::path lock_path = cache.lock_file(file.etag);
  Fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (lock.get() < 0) fail_errno(lock_path, "cannot open", errno);
  while (::flock(lock.get(), LOCK_EX) != 0) {
    if (errno != EINTR) fail_errno(lock_path, "cannot lock", errno);
  }
  if (fs::is_regular_file(blob, ec)) return;  // another process fetched it while we waited
  fetch_locked(file, cache, progress);
}

void HubClient::fetch_locked(const RemoteFile& file, const RepoCache& cache, DownloadProgress& progress) {
  const fs::path part = cache.incomplete_blob(file.etag);
  Fd fd(::open(part.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
  if (fd.get() < 0) fail_errno(part, "cannot create", errno);
  const off_t end = ::lseek(fd.get(), 0, SEEK_END);
  if (end < 0) fail_errno(part, "cannot seek", errno);
  uint64_t have = static_cast<uint64_t>(end);
  if (file.size && have > *file.size) {
    if (::ftruncate(fd.get(), 0) != 0 || ::lseek(fd.get(), 0, SEEK_SET) != 0) fail_errno(part, "cannot truncate", errno);
    have = 0;
  }
  if (file.size) {
    std::error_code ec;
    const auto space = fs::space(part.parent_path(), ec);
    const uint64_t needed = *file.size - have;
    if (!ec && space.available < needed) {
      // What arrived in an earlier run stays for when there is room; an empty start does not.
      if (have == 0) fs::remove(part, ec);
      throw Error(Error::Kind::kIo, "the Hugging Face cache " + settings_.cache_dir.string() + " is too full: " +
                                        repo_id_ + "/" + file.name + " needs " + std::to_string(needed) +
                                        " more bytes, " + std::to_string(space.available) + " are free in " +
                                        part.parent_path().string() + "; " + kSpaceHint);
    }
  }
  progress.begin(file.name, file.size.value_or(0), have);
  try {
    for (int attempt = 1;; ++attempt) {
      if (file.size && have == *file.size) break;
      try {
        get_into(file, part, fd.get(), have, progress);
        break;
      } catch (const Error& e) {
        if (e.kind() != Error::Kind::kUnavailable || attempt == kMaxAttempts) throw;
        spdlog::warn("{}: {}; trying again from byte {}", file.name, e.what(), have);
      }
    }
  } catch (const Error& e) {
    progress.end();
    // A dropped connection keeps what arrived for the next run; anything else (a mismatch, a full
    // disk, a refusal) leaves nothing behind.
    if (e.kind() != Error::Kind::kUnavailable) {
      std::error_code ignored;
      fs::remove(part, ignored);
    }
    throw Error(e.kind(), "downloading " + repo_id_ + "/" + file.name + ": " + e.what() +
                              (e.kind() == Error::Kind::kUnavailable ? " (run again to resume)" : ""));
  }
  progress.end();
  // A file system that allocates late (NFS, ext4's delayed allocation) reports a full disk only
  // here; what it holds is then unknown, so it goes.
  if (::fsync(fd.get()) != 0 || ::close(fd.release()) != 0) {
    const Error failure = write_failure(file, part, have, errno);
    std::error_code ignored;
    fs::remove(part, ignored);
    throw Error(failure.kind(), "downloading " + repo_id_ + "/" + file.name + ": " + failure.what());
  }

  const auto refuse = [&](const std::string& why) {
    std::error_code ignored;
    fs::remove(part, ignored);
    throw Error(Error::Kind::kIo, "downloading " + repo_id_ + "/" + file.name + ": " + why + "; the download was discarded");
  };
  if (file.size && have != *file.size) {
    refuse("got " + std::to_string(have) + " bytes, the hub announced " + std::to_string(*file.size));
  }
  if (const std::string mismatch = digest_mismatch(part, file.etag, have); !mismatch.empty()) {
    refuse("content does not match its ETag: " + mismatch);
  }
  std::error_code ec;
  fs::rename(part, cache.blob(file.etag), ec);
  if (ec) fail_errno(cache.blob(file.etag), "cannot rename into place", ec.value());
  sync_directory(part.parent_path());
}

Error HubClient::write_failure(const RemoteFile& file, const fs::path& part, uint64_t have, int error) const {
  std::string message = part.string() + ": cannot write: " + std::strerror(error);
  std::string written = std::to_string(have);
  written += file.size ? " of " + std::to_string(*file.size) + " bytes" : " bytes (the hub did not announce the size)";
  written += " of " + file.name + " written";
  if (error == ENOSPC || error == EDQUOT) {
    message += " (the Hugging Face cache " + settings_.cache_dir.string() + " is full: " + written + ", " +
               free_bytes(part.parent_path()) + " bytes free; " + kSpaceHint + ")";
  } else if (error == EFBIG) {
    message += " (the file size limit of this process, ulimit -f, stopped it: " + written + "; raise the limit)";
  }
  return Error(Error::Kind::kIo, message);
}

void HubClient::get_into(const RemoteFile& file, const fs::path& part, int fd, uint64_t& have,
                         DownloadProgress& progress) {
  HubUrl url = file.url;
  const auto start_over = [&] {
    if (::ftruncate(fd, 0) != 0 || ::lseek(fd, 0, SEEK_SET) != 0) fail_errno(part, "cannot truncate", errno);
    have = 0;
    progress.begin(file.name, file.size.value_or(0), 0);
  };
  for (int hop = 0; hop <= kMaxRedirects; ++hop) {
    HttpHeaders headers = auth_headers(url);
    const uint64_t from = have;
    if (from > 0) headers.emplace_back("Range", "bytes=" + std::to_string(from) + "-");
    const auto on_start = [&](const HttpResponse& response) {
      if (from == 0) return;
      if (response.status == 200) {
        start_over();  // the server ignored the range: the whole file follows
        return;
      }
      const std::string range = response.header("content-range");  // "bytes 100-199/200"
      if (!range.starts_with("bytes " + std::to_string(from) + "-")) {
        throw Error(Error::Kind::kIo, url.authority() + " answered a resume from byte " + std::to_string(from) +
                                          " with Content-Range '" + range + "'");
      }
    };
    const auto sink = [&](const char* data, size_t size) {
      if (file.size && have + size > *file.size) {
        throw Error(Error::Kind::kIo, "more bytes than the hub announced (" + std::to_string(*file.size) + ")");
      }
      if (const int error = write_all(fd, data, size)) throw write_failure(file, part, have, error);
      have += size;
      progress.advance(size);
    };
    const HttpResponse response = http_.send(url, "GET", headers, sink, settings_.read_timeout, on_start);
    if (response.status >= 200 && response.status < 300) return;
    if (response.status >= 300 && response.status < 400 && !response.header("location").empty()) {
      url = resolve_location(url, response.header("location"));
      continue;
    }
    if (response.status == 416 && from > 0) {
      if (file.size && from == *file.size) return;  // it was all there already
      start_over();
      continue;
    }
    fail_status(response, "", file.name);
  }
  throw Error(Error::Kind::kUnavailable, "more than " + std::to_string(kMaxRedirects) + " redirects for " + file.name);
}

}  // namespace rerankd::hub
