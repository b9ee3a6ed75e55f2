#pragma once
// The CUDA backend: weights uploaded once in the compute precision (float16, bfloat16 or float32),
// one workspace sized from the batch budget at load, cuBLASLt matmuls with fused bias / GELU
// epilogues, our kernels for embeddings, LayerNorm, softmax and the head (cuda_kernels.h), and
// attention by length bucket (cuda_plan.h). The residual stream, LayerNorms, softmax and the
// classification head are float32 in every precision.
//
// Streams: the passes run on one compute stream; a pass's inputs (ids, positions, the attention
// plan) go in on a copy-in stream from pinned buffers and its logits come out on a copy-out
// stream, each pass in one of kPassSlots slots. read_async returns before the pass is done, so
// the backend worker queues the next pass (packing it, uploading its inputs, launching its
// kernels) while one runs, and collects the last one's logits after (pass_slots();
// CudaOptions::overlap off turns this off). One thread drives it (the backend worker); it makes its
// device current on every pass.
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/cuda_matmul.h"
#include "kernels/cuda/cuda_plan.h"

namespace rerankd::cuda {

// Device memory owned by one cudaMalloc.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(int64_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& other) noexcept : ptr_(other.ptr_), bytes_(other.bytes_) { other.ptr_ = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return ptr_; }
  int64_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  int64_t bytes_ = 0;
};

// Whether a usable CUDA device (driver, device, compute capability 8.0+) exists: the GPU tests
// skip without one.
bool device_available(int index = 0);

class CudaBackend final : public Backend {
 public:
  // Throws Error(kUnavailable) without a usable device, Error(kInvalidInput) for an index past the
  // devices present.
  CudaBackend(int device, CudaPrecision precision, CudaOptions options);
  ~CudaBackend() override;

  std::string name() const override { return "cuda:" + std::to_string(device_); }
  std::string precision() const override { return precision_name(precision_); }
  std::string describe() const override;

  bool prepare(const ModelShape& shape) override;
  std::unique_ptr<LinearWeights> load_linear(std::span<const TensorView* const> weights,
                                             std::span<const TensorView* const> biases, LinearUse use) override;
  std::unique_ptr<NormWeights> load_norm(const TensorView& gamma, const TensorView& beta, double eps) override;
  std::unique_ptr<EmbeddingTables> load_embeddings(const TensorView& word, const TensorView& position,
                                                   const TensorView& token_type, int32_t pad_token_id) override;
  std::unique_ptr<DeviceMatrix> new_matrix(int64_t capacity, int64_t width, MatrixUse use) override;
  std::unique_ptr<DeviceMatrix> new_matrix_over(int64_t capacity, int64_t width, MatrixUse use,
                                                std::span<const DeviceMatrix* const> dead) override;

  void set_batch(const PackedBatch& batch) override;
  void embed(const EmbeddingTables& tables, const NormWeights& norm, DeviceMatrix& out) override;
  void linear(const DeviceMatrix& in, const LinearWeights& weights, Epilogue epilogue, DeviceMatrix& out) override;
  void linear_residual_norm(const DeviceMatrix& in, const LinearWeights& weights, const NormWeights& norm,
                            DeviceMatrix& inout) override;
  void attention(const DeviceMatrix& qkv, int64_t num_heads, DeviceMatrix& out) override;
  void gather_sequence_starts(const DeviceMatrix& in, DeviceMatrix& out) override;
  void read(const DeviceMatrix& in, std::span<float> out) override;
  int pass_slots() const override { return options_.overlap ? kPassSlots : 1; }
  std::unique_ptr<PendingRead> read_async(const DeviceMatrix& in, size_t count) override;

 private:
  struct Slot;
  class PendingLogits;
  std::unique_ptr<DeviceMatrix> matrix_at(char* base, int64_t capacity, int64_t width, MatrixUse use);
  // Copies a stored tensor into device memory at `dst` in `type`, through the staging buffer.
  void upload(const TensorView& view, void* dst, ElementType type);
  DeviceBuffer upload_new(const TensorView& view, ElementType type);
  void* arena_take(int64_t bytes);
  void check_launch(const char* what);

  int device_;
  CudaPrecision precision_;
  ElementType narrow_;
  CudaOptions options_;
  bool exact_gelu_;  // float32, or asked for: erf GELU by our kernel rather than cuBLASLt's epilogue
  cudaDeviceProp properties_{};
  cudaStream_t compute_ = nullptr, copy_in_ = nullptr, copy_out_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  std::unique_ptr<LtMatmul> matmul_;

  ModelShape shape_;
  WorkspacePlan plan_;
  MemoryPlan planned_;
  PassInputLayout layout_;
  DeviceBuffer arena_;
  int64_t arena_used_ = 0;
  void* attention_scratch_ = nullptr;
  void* cublas_workspace_ = nullptr;
  std::vector<DeviceBuffer> extra_;  // matrices the plan did not foresee (warned about)
  std::vector<std::unique_ptr<Slot>> slots_;
  Slot* current_ = nullptr;
  int next_slot_ = 0;
  AttentionPlan attention_plan_;
  int64_t tokens_ = 0, sequences_ = 0;
  bool pointers_ready_ = false;  // this pass's attention pointer arrays are uploaded
  int64_t vocab_ = 0, position_rows_ = 0, type_rows_ = 0;  // the embedding tables' bounds, for set_batch
  int32_t pad_token_id_ = -1;  // EmbeddingTables' contract (kernels/backend.h): -1 = positions from 0

  DeviceBuffer staging_;  // weight conversion at load; freed at the first pass
  DeviceBuffer nonfinite_;
  int64_t weight_bytes_ = 0, workspace_bytes_ = 0;
};

}  // namespace rerankd::cuda
