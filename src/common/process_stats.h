#pragma once
// Figures about this process for logs, /info, /metrics and benchmarks.
#include <cstdint>

namespace rerankd {

// Resident set size in bytes (VmRSS), 0 where /proc is not available.
int64_t resident_memory_bytes();

}  // namespace rerankd
