#include "fuzz_support.h"

#include <stdlib.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>

namespace rerankd::fuzz {

const std::filesystem::path& scratch_dir() {
  // Never destroyed, so that the exit hook below can still read it.
  static const std::filesystem::path* const dir = [] {
    const std::string base =
        std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path().string();
    std::string pattern = base + "/rerankd-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("fuzz: cannot create " + pattern);
    return new std::filesystem::path(pattern);
  }();
  // Removed at a normal exit; a run killed by a crash leaves it behind.
  static const bool cleanup = std::atexit([] {
    std::error_code ignored;
    std::filesystem::remove_all(*dir, ignored);
  }) == 0;
  (void)cleanup;
  return *dir;
}

void write_file(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("fuzz: cannot write " + path.string());
}

}  // namespace rerankd::fuzz
