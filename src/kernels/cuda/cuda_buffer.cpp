#include "kernels/cuda/cuda_buffer.h"

#include "kernels/cuda/cuda_check.h"

namespace rerankd::cuda {

DeviceBuffer::DeviceBuffer(int64_t bytes) : bytes_(bytes) {
  if (bytes > 0) check(cudaMalloc(&ptr_, static_cast<size_t>(bytes)), "cudaMalloc");
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_ != nullptr) cudaFree(ptr_);
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = std::exchange(other.ptr_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

PinnedBuffer::PinnedBuffer(int64_t bytes) {
  if (bytes > 0) check(cudaMallocHost(&ptr_, static_cast<size_t>(bytes)), "cudaMallocHost");
}

PinnedBuffer::~PinnedBuffer() {
  if (ptr_ != nullptr) cudaFreeHost(ptr_);
}

}  // namespace rerankd::cuda
