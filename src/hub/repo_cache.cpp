#include "hub/repo_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>

#include "common/error.h"

namespace rerankd::hub {
namespace fs = std::filesystem;

bool is_commit_hash(const std::string& revision) {
  return revision.size() == 40 && std::all_of(revision.begin(), revision.end(), [](unsigned char c) {
           return std::isdigit(c) || (c >= 'a' && c <= 'f');
         });
}

namespace {

// huggingface_hub's folder name: "models--" and the id with each '/' as "--".
std::string repo_folder(const std::string& repo_id) {
  std::string name = "models--";
  for (const char c : repo_id) name += c == '/' ? std::string("--") : std::string(1, c);
  return name;
}

// "<dir>/.<name><suffix>": a temporary beside `path`, hidden from directory listings. Appends
// rather than operator+, which trips GCC 12's -Wrestrict false positive.
fs::path hidden_sibling(const fs::path& path, const char* suffix) {
  std::string name = ".";
  name += path.filename().string();
  name += suffix;
  return path.parent_path() / name;
}

[[noreturn]] void fail_io(const fs::path& path, const char* what, int error) {
  const std::string hint = error == ENOSPC ? " (disk full: free space or point HF_HUB_CACHE at a larger disk)" : "";
  throw Error(Error::Kind::kIo, path.string() + ": " + what + ": " + std::strerror(error) + hint);
}

}  // namespace

RepoCache::RepoCache(const fs::path& cache_dir, const std::string& repo_id)
    : dir_(cache_dir / repo_folder(repo_id)), locks_(cache_dir / ".locks" / repo_folder(repo_id)) {}

std::optional<std::string> RepoCache::commit_of(const std::string& revision) const {
  if (is_commit_hash(revision)) return revision;
  std::ifstream in(dir_ / "refs" / revision);
  std::string commit;
  if (!in || !std::getline(in, commit)) return std::nullopt;
  while (!commit.empty() && std::isspace(static_cast<unsigned char>(commit.back()))) commit.pop_back();
  if (!is_commit_hash(commit)) return std::nullopt;
  return commit;
}

void RepoCache::set_ref(const std::string& revision, const std::string& commit) const {
  if (revision == commit) return;
  const fs::path ref = dir_ / "refs" / revision;  // "refs/pr/1" nests, as in huggingface_hub
  std::error_code ec;
  fs::create_directories(ref.parent_path(), ec);
  if (ec) fail_io(ref.parent_path(), "cannot create", ec.value());
  write_file_atomically(ref, commit);
}

void RepoCache::link(const std::string& commit, const std::string& file, const std::string& etag) const {
  const fs::path target = snapshot(commit) / file;
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  if (ec) fail_io(target.parent_path(), "cannot create", ec.value());
  // From snapshots/<commit>/<dirs of file>/ back up to the repository folder.
  const fs::path in_repo(file);
  fs::path relative = "../..";
  for (auto it = in_repo.begin(); std::next(it) != in_repo.end(); ++it) relative /= "..";
  relative = relative / "blobs" / etag;
  const fs::path temporary = hidden_sibling(target, ".link");
  fs::remove(temporary, ec);
  fs::create_symlink(relative, temporary, ec);
  if (ec) fail_io(temporary, "cannot create a symbolic link", ec.value());
  fs::rename(temporary, target, ec);
  if (ec) fail_io(target, "cannot rename into place", ec.value());
  sync_directory(target.parent_path());
}

void write_file_atomically(const fs::path& path, const std::string& content) {
  const fs::path temporary = hidden_sibling(path, ".tmp");
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail_io(temporary, "cannot create", errno);
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      fail_io(temporary, "cannot write", error);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) fail_io(temporary, "cannot write", errno);
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) fail_io(path, "cannot rename into place", ec.value());
  sync_directory(path.parent_path());
}

void sync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // a file system without directory handles: nothing more to do
  ::fsync(fd);
  ::close(fd);
}

}  // namespace rerankd::hub
