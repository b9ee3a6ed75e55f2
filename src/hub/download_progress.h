#pragma once
// How a download shows itself: one line redrawn in place on a terminal (stderr is a tty), plain
// log lines otherwise (a container's log, CI), so that logs are not flooded with carriage returns.
#include <chrono>
#include <cstdint>
#include <string>

namespace rerankd::hub {

class DownloadProgress {
 public:
  // `interactive`: redraw a line on stderr; else log a line per file.
  explicit DownloadProgress(bool interactive);

  // A file of `total` bytes (0: unknown) starts, `already` of them on disk from an earlier try.
  void begin(const std::string& name, uint64_t total, uint64_t already);
  void advance(uint64_t bytes);
  void end();

 private:
  void draw(bool final);

  bool interactive_;
  std::string name_;
  uint64_t total_ = 0, done_ = 0, resumed_ = 0;
  std::chrono::steady_clock::time_point started_, drawn_;
};

}  // namespace rerankd::hub
