#pragma once
// Host activation storage for the CPU backend: 64-byte aligned float32, zeroed once so that the
// rows past `rows` (read when a matmul's M is rounded up) are always finite.
#include <cstdlib>
#include <memory>

#include "kernels/backend.h"

namespace rerankd::cpu {

// Matmul row counts are rounded up to this so a few primitive shapes serve all batch sizes.
constexpr int64_t kRowAlignment = 8;
inline int64_t round_rows(int64_t rows) { return (rows + kRowAlignment - 1) / kRowAlignment * kRowAlignment; }

struct CpuMatrix final : DeviceMatrix {
  CpuMatrix(int64_t capacity_rows, int64_t matrix_width);
  float* data() { return storage.get(); }
  const float* data() const { return storage.get(); }

  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> storage;
};

inline CpuMatrix& as_cpu(DeviceMatrix& m) { return static_cast<CpuMatrix&>(m); }
inline const CpuMatrix& as_cpu(const DeviceMatrix& m) { return static_cast<const CpuMatrix&>(m); }

}  // namespace rerankd::cpu
