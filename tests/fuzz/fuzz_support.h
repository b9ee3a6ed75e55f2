#pragma once
// What the fuzz targets share: a private scratch directory for inputs that the code under test
// reads from files (the loader and the tokenizer take paths, not bytes).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>

namespace rerankd::fuzz {

// A fresh directory for this process, created on first use (under TMPDIR, or /dev/shm when
// present: every execution writes its input there, and memory is faster than disk).
const std::filesystem::path& scratch_dir();

// Replaces `path` with exactly `bytes`.
void write_file(const std::filesystem::path& path, std::string_view bytes);

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace rerankd::fuzz
