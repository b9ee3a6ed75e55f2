#pragma once
// One model repository in the Hugging Face cache, laid out exactly as huggingface_hub lays it out
// so that Python tools and rerankd share the files:
//   <cache>/models--ORG--NAME/refs/<revision>            the commit a branch or tag pointed at
//   <cache>/models--ORG--NAME/blobs/<etag>               file contents, named by their ETag
//   <cache>/models--ORG--NAME/snapshots/<commit>/<file>  -> ../../blobs/<etag>
//   <cache>/.locks/models--ORG--NAME/<etag>.lock         huggingface_hub's per-blob lock file
#include <filesystem>
#include <optional>
#include <string>

namespace rerankd::hub {

// A 40-hex-digit git commit id: a revision that names a snapshot directly.
bool is_commit_hash(const std::string& revision);

class RepoCache {
 public:
  RepoCache(const std::filesystem::path& cache_dir, const std::string& repo_id);

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path blob(const std::string& etag) const { return dir_ / "blobs" / etag; }
  std::filesystem::path incomplete_blob(const std::string& etag) const {
    return dir_ / "blobs" / (etag + ".incomplete");
  }
  std::filesystem::path lock_file(const std::string& etag) const { return locks_ / (etag + ".lock"); }
  std::filesystem::path snapshot(const std::string& commit) const { return dir_ / "snapshots" / commit; }

  // The commit `revision` stands for in this cache: itself when it is a commit id, else what
  // refs/<revision> holds; nullopt when the cache has never seen it.
  std::optional<std::string> commit_of(const std::string& revision) const;
  // Records refs/<revision> = commit (written aside and renamed, so a reader never sees half).
  void set_ref(const std::string& revision, const std::string& commit) const;
  // Makes snapshots/<commit>/<file> point at blobs/<etag> (relative, as huggingface_hub does),
  // replacing any older link atomically. The blob must already be complete.
  void link(const std::string& commit, const std::string& file, const std::string& etag) const;

 private:
  std::filesystem::path dir_;
  std::filesystem::path locks_;
};

// Writes `path` through a temporary file, fsync and rename.
void write_file_atomically(const std::filesystem::path& path, const std::string& content);
// fsync of a directory, so that a rename in it survives a crash.
void sync_directory(const std::filesystem::path& dir);

}  // namespace rerankd::hub
