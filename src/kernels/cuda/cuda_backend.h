#pragma once
// The CUDA backend: the Backend interface's ops on one device, in the compute precision (float16,
// bfloat16 or float32): cuBLASLt matmuls with fused bias / GELU epilogues (cuda_matmul.h), our
// kernels for embeddings, LayerNorm, softmax and the head (cuda_kernels.h), and attention by
// length bucket (cuda_plan.h); a decoder's ops (cuda_decoder_ops.cpp) by cuda_decoder_kernels.h. The residual stream, LayerNorms, softmax and the classification
// head are float32 in every precision. What the ops work on comes from the other parts: the
// weights (cuda_weights.h), the one workspace and its matrices (cuda_workspace.h), and each pass's
// inputs and logits (cuda_pass_slots.h).
//
// Streams: the passes run on one compute stream; a pass's inputs go in on a copy-in stream and its
// logits come out on a copy-out stream, each pass in one of kPassSlots slots. read_async returns
// before the pass is done, so the backend worker queues the next pass (packing it, uploading its
// inputs, launching its kernels) while one runs, and collects the last one's logits after
// (pass_slots(); CudaOptions::overlap off turns this off). One thread drives it (the backend
// worker); it makes its device current on every pass.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <memory>
#include <string>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_buffer.h"
#include "kernels/cuda/cuda_matmul.h"
#include "kernels/cuda/cuda_pass_slots.h"
#include "kernels/cuda/cuda_plan.h"
#include "kernels/cuda/cuda_weights.h"
#include "kernels/cuda/cuda_workspace.h"

namespace rerankd::cuda {

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
                                                   const TensorView& token_type) override;
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

  // A decoder's ops (Backend's "a decoder's ops").
  std::unique_ptr<NormWeights> load_rms_norm(const TensorView& gamma, double eps, float offset) override;
  std::unique_ptr<EmbeddingTables> load_token_embeddings(const TensorView& word, float scale) override;
  void embed_tokens(const EmbeddingTables& tables, DeviceMatrix& out) override;
  void rms_norm(const DeviceMatrix& in, const NormWeights& norm, DeviceMatrix& out) override;
  void linear_residual(const DeviceMatrix& in, const LinearWeights& weights, DeviceMatrix& inout) override;
  void gated_activation(const DeviceMatrix& gate_up, GatedActivation activation, DeviceMatrix& out) override;
  void rotate_queries_keys(DeviceMatrix& qkv, const DecoderAttentionShape& shape, const NormWeights* q_norm,
                           const NormWeights* k_norm) override;
  void causal_attention(const DeviceMatrix& qkv, const DecoderAttentionShape& shape, DeviceMatrix& out) override;
  void gather_sequence_ends(const DeviceMatrix& in, DeviceMatrix& out) override;
  int pass_slots() const override { return options_.overlap ? kPassSlots : 1; }
  std::unique_ptr<PendingRead> read_async(const DeviceMatrix& in, size_t count) override;

 private:
  void check_launch(const char* what);
  bool decoder() const { return shape_.head_dim > 0; }  // ModelShape's decoder fields were given
  // The narrow form of a matrix whose float32 form an op wrote, where the two differ.
  void refresh_narrow(CudaMatrix& m);
  const RotaryFrequencies& rotary(const DecoderAttentionShape& shape);
  void upload_attention_pointers(const CudaMatrix& qkv);

  int device_;
  CudaPrecision precision_;
  ElementType narrow_;
  CudaOptions options_;
  bool exact_gelu_;  // float32, or asked for: erf GELU by our kernel rather than cuBLASLt's epilogue
  cudaDeviceProp properties_{};
  Streams streams_;
  cublasHandle_t cublas_ = nullptr;
  std::unique_ptr<LtMatmul> matmul_;
  std::unique_ptr<WeightLoader> weights_;
  std::unique_ptr<Workspace> workspace_;
  std::unique_ptr<PassSlotRing> slots_;

  ModelShape shape_;
  WorkspacePlan plan_;
  MemoryPlan planned_;
  PassInputLayout layout_;
  void* attention_scratch_ = nullptr;
  TableBounds tables_;           // the embedding tables' bounds, for packing a pass
  bool pointers_ready_ = false;  // this pass's attention pointer arrays are uploaded
  DeviceBuffer nonfinite_;       // the convert kernel's counter in the ops (not read)
  // The decoder's rotary frequencies, computed once for a (head_dim, rope_theta).
  RotaryFrequencies rotary_;
  int64_t rotary_dim_ = 0;
  double rotary_theta_ = 0;
};

}  // namespace rerankd::cuda
