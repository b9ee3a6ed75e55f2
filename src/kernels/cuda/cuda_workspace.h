#pragma once
// The CUDA backend's one workspace (cuda_plan.h, plan_workspace): a zeroed arena sized once at load,
// from which the graph's activation matrices, the attention scratch, cuBLAS(Lt)'s workspace and the
// pass slots are taken, and the matrices laid in it: each with a float32 form, a compute-precision
// form or both (matrix_forms), and the ones the graph never holds live together laid over each
// other (Backend::new_matrix_over).
#include <cuda_runtime_api.h>

#include <map>
#include <memory>
#include <span>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_buffer.h"
#include "kernels/cuda/cuda_plan.h"

namespace rerankd::cuda {

struct CudaMatrix final : DeviceMatrix {
  float* f32 = nullptr;    // null where the role keeps no float32 copy
  void* narrow = nullptr;  // the compute precision's form (== f32 in float32)
  char* base = nullptr;    // the memory both forms lie in
  int64_t bytes = 0;
};

inline CudaMatrix& as_cuda(DeviceMatrix& m) { return static_cast<CudaMatrix&>(m); }
inline const CudaMatrix& as_cuda(const DeviceMatrix& m) { return static_cast<const CudaMatrix&>(m); }

class Workspace {
 public:
  // Zeroes its memory on `stream`: rows past a sequence that padded keys read must hold finite values.
  Workspace(CudaPrecision precision, cudaStream_t stream) : precision_(precision), stream_(stream) {}

  // The arena, zeroed; returns once the zeros are written, so every stream sees them.
  void allocate(int64_t bytes);
  // `bytes` of the arena (aligned), or null when it is full.
  void* take(int64_t bytes);

  std::unique_ptr<CudaMatrix> new_matrix(int64_t capacity, int64_t width, MatrixUse use);
  std::unique_ptr<CudaMatrix> new_matrix_over(int64_t capacity, int64_t width, MatrixUse use,
                                              std::span<const DeviceMatrix* const> dead);

  int64_t bytes() const { return bytes_; }  // the arena and any matrix outside it

 private:
  std::unique_ptr<CudaMatrix> matrix_at(char* base, int64_t capacity, int64_t width, MatrixUse use) const;
  void zero(void* p, int64_t bytes);

  CudaPrecision precision_;
  cudaStream_t stream_;
  DeviceBuffer arena_;
  int64_t used_ = 0;
  std::vector<DeviceBuffer> extra_;  // matrices the plan did not foresee (warned about)
  // Matrices laid over dead ones, by the dead run's start: the bytes the run spans (grown where it
  // ended at the arena's top) and how many of them earlier overlays took. Two matrices laid over
  // the same dead ones may be live together (gate_up and the gated output), so they never overlap.
  struct Overlay {
    int64_t extent = 0, used = 0;
  };
  std::map<const char*, Overlay> overlays_;
  int64_t bytes_ = 0;
};

}  // namespace rerankd::cuda
