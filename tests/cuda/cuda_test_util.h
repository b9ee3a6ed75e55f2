#pragma once
// Shared by the CUDA tests: the skip where no device exists, and device buffers filled from and
// read back to host vectors.
#include <gtest/gtest.h>

#include <cuda_runtime_api.h>

#include <vector>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.h"

namespace rerankd::cuda::testing {

class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!device_available(0)) GTEST_SKIP() << "skipped: no CUDA device";
    check(cudaSetDevice(0), "cudaSetDevice");
  }
};

template <typename T>
DeviceBuffer to_device(const std::vector<T>& host) {
  DeviceBuffer b(static_cast<int64_t>(host.size() * sizeof(T)));
  check(cudaMemcpy(b.get(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), "cudaMemcpy");
  return b;
}

template <typename T>
std::vector<T> to_host(const DeviceBuffer& b, size_t count) {
  check(cudaDeviceSynchronize(), "kernel");
  std::vector<T> host(count);
  check(cudaMemcpy(host.data(), b.get(), count * sizeof(T), cudaMemcpyDeviceToHost), "cudaMemcpy");
  return host;
}

}  // namespace rerankd::cuda::testing
