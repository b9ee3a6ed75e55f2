#include "common/process_stats.h"

#include <algorithm>
#include <fstream>
#include <string>

namespace rerankd {

int64_t resident_memory_bytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    if (key == "VmRSS:") {
      int64_t kib = 0;
      status >> kib;
      return kib * 1024;
    }
    status.ignore(1 << 12, '\n');
  }
  return 0;
}

namespace {

// The first integer of a file ("max" or unreadable: -1).
int64_t read_number(const char* path) {
  std::ifstream in(path);
  int64_t value = -1;
  if (!(in >> value)) return -1;
  return value;
}

}  // namespace

int64_t available_memory_bytes() {
  int64_t available = -1;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  while (meminfo >> key) {
    if (key == "MemAvailable:") {
      meminfo >> available;
      available *= 1024;
      break;
    }
    meminfo.ignore(1 << 12, '\n');
  }
  const int64_t limit = read_number("/sys/fs/cgroup/memory.max");
  const int64_t used = read_number("/sys/fs/cgroup/memory.current");
  if (limit > 0 && used >= 0) {
    const int64_t left = limit > used ? limit - used : 0;
    available = available < 0 ? left : std::min(available, left);
  }
  return available;
}

}  // namespace rerankd
