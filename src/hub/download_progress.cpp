#include "hub/download_progress.h"

#include <spdlog/spdlog.h>

#include <cstdio>

namespace rerankd::hub {
namespace {

double megabytes(uint64_t bytes) { return static_cast<double>(bytes) / 1e6; }

}  // namespace

DownloadProgress::DownloadProgress(bool interactive) : interactive_(interactive) {}

void DownloadProgress::begin(const std::string& name, uint64_t total, uint64_t already) {
  name_ = name;
  total_ = total;
  done_ = resumed_ = already;
  started_ = drawn_ = std::chrono::steady_clock::now();
  if (interactive_) {
    draw(false);
  } else if (already > 0) {
    spdlog::info("downloading {} ({:.1f} MB), resuming at {:.1f} MB", name_, megabytes(total_), megabytes(already));
  } else {
    spdlog::info("downloading {} ({:.1f} MB)", name_, megabytes(total_));
  }
}

void DownloadProgress::advance(uint64_t bytes) {
  done_ += bytes;
  if (!interactive_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - drawn_ < std::chrono::milliseconds(100)) return;  // ten redraws a second at most
  drawn_ = now;
  draw(false);
}

void DownloadProgress::end() {
  if (interactive_) {
    draw(true);
    return;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  spdlog::info("downloaded {} ({:.1f} MB in {:.1f} s)", name_, megabytes(done_ - resumed_), seconds);
}

void DownloadProgress::draw(bool final) {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  const double rate = seconds > 0 ? megabytes(done_ - resumed_) / seconds : 0;
  const double percent = total_ > 0 ? 100.0 * static_cast<double>(done_) / static_cast<double>(total_) : 0;
  std::fprintf(stderr, "\r\033[K%s  %.1f/%.1f MB  %3.0f%%  %.1f MB/s%s", name_.c_str(), megabytes(done_),
               megabytes(total_), percent, rate, final ? "\n" : "");
  std::fflush(stderr);
}

}  // namespace rerankd::hub
