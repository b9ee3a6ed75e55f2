#pragma once
// Figures about this process for logs, /info, /metrics and benchmarks.
#include <cstdint>

namespace rerankd {

// Resident set size in bytes (VmRSS), 0 where /proc is not available.
int64_t resident_memory_bytes();

// Memory this process could still take: the machine's MemAvailable, or less where a cgroup (v2)
// limit leaves less (a container's memory limit). -1 where neither can be read.
int64_t available_memory_bytes();

}  // namespace rerankd
