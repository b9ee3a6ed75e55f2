#include "kernels/cuda/cuda_workspace.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "kernels/cuda/cuda_check.h"

namespace rerankd::cuda {
namespace {

Role role_of(MatrixUse use) { return use == MatrixUse::kGeneral ? Role::kGeneral : Role::kNarrowOnly; }

}  // namespace

void Workspace::zero(void* p, int64_t bytes) {
  // On the compute stream, and waited for: the copy streams write slots in the arena and are not
  // ordered after the compute stream's work.
  check(cudaMemsetAsync(p, 0, static_cast<size_t>(bytes), stream_), "cudaMemsetAsync (workspace)");
  check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize (workspace)");
}

void Workspace::allocate(int64_t bytes) {
  arena_ = DeviceBuffer(bytes);
  used_ = 0;
  overlays_.clear();
  zero(arena_.get(), bytes);
  bytes_ += bytes;
}

void* Workspace::take(int64_t bytes) {
  const int64_t aligned = align_up(bytes, kScratchAlign);
  if (used_ + aligned > arena_.bytes()) return nullptr;
  void* p = static_cast<char*>(arena_.get()) + used_;
  used_ += aligned;
  return p;
}

std::unique_ptr<CudaMatrix> Workspace::new_matrix(int64_t capacity, int64_t width, MatrixUse use) {
  const int64_t rows = allocated_rows(capacity);
  const int64_t bytes = matrix_bytes(rows, width, role_of(use), precision_);
  char* base = static_cast<char*>(take(bytes));
  if (base == nullptr) {
    // A matrix the workspace plan did not foresee (a batch past the bounds given at load, or a
    // graph that changed): its own allocation, zeroed like the arena.
    spdlog::warn("CUDA backend: a {} x {} activation outside the planned workspace ({} MiB more)", rows, width,
                 (bytes + (1 << 19)) >> 20);
    extra_.emplace_back(bytes);
    base = static_cast<char*>(extra_.back().get());
    zero(base, bytes);
    bytes_ += bytes;
  }
  return matrix_at(base, capacity, width, use);
}

std::unique_ptr<CudaMatrix> Workspace::new_matrix_over(int64_t capacity, int64_t width, MatrixUse use,
                                                       std::span<const DeviceMatrix* const> dead) {
  // The dead matrices' memory, where it is one run (they were taken from the arena one after
  // another) big enough for this one.
  std::vector<const CudaMatrix*> under;
  for (const DeviceMatrix* d : dead) under.push_back(&as_cuda(*d));
  std::sort(under.begin(), under.end(), [](const CudaMatrix* a, const CudaMatrix* b) { return a->base < b->base; });
  int64_t run = 0;
  for (size_t i = 0; i < under.size(); ++i) {
    if (i > 0 && under[i - 1]->base + under[i - 1]->bytes != under[i]->base) return new_matrix(capacity, width, use);
    run += under[i]->bytes;
  }
  if (under.empty()) return new_matrix(capacity, width, use);
  const int64_t bytes = matrix_bytes(allocated_rows(capacity), width, role_of(use), precision_);  // aligned
  char* start = under.front()->base;
  Overlay& overlay = overlays_[start];
  overlay.extent = std::max(overlay.extent, run);
  if (overlay.used + bytes > overlay.extent) {
    // A run at the arena's top grows into the free arena; any other falls back to its own memory.
    char* top = static_cast<char*>(arena_.get()) + used_;
    if (start + overlay.extent != top || take(overlay.used + bytes - overlay.extent) == nullptr) {
      return new_matrix(capacity, width, use);
    }
    overlay.extent = overlay.used + bytes;
  }
  char* base = start + overlay.used;
  overlay.used += bytes;
  return matrix_at(base, capacity, width, use);
}

std::unique_ptr<CudaMatrix> Workspace::matrix_at(char* base, int64_t capacity, int64_t width, MatrixUse use) const {
  const MatrixForms forms = matrix_forms(role_of(use), precision_);
  const int64_t rows = allocated_rows(capacity);
  auto m = std::make_unique<CudaMatrix>();
  m->capacity = capacity;
  m->width = width;
  m->base = base;
  m->bytes = matrix_bytes(rows, width, role_of(use), precision_);
  if (forms.f32) {
    m->f32 = reinterpret_cast<float*>(base);
    base += align_up(rows * width * 4, kScratchAlign);
  }
  m->narrow = base;
  if (precision_ == CudaPrecision::kFloat32) m->f32 = reinterpret_cast<float*>(base);
  return m;
}

}  // namespace rerankd::cuda
