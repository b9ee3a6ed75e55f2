#pragma once
// The CPU backend: oneDNN for matmuls and attention, our own kernels for the rest, float32
// activations. The encoder's linear layers run in float32, bfloat16 (dnnl_linear.h) or int8
// (int8_linear.h); the embeddings, LayerNorms, attention and the classification head stay float32.
// A decoder's ops too: RMSNorms, the gated activation, rotary q/k and causal attention in float32,
// its linear layers as the encoder's.
// In bf16 and int8 the activations a linear layer reads also have that layer's input form
// (cpu_matrix.h), written by whichever kernel last had the rows in cache.
// Single-threaded use: one compute thread owns it (oneDNN/OpenMP fan out inside).
#include <dnnl.hpp>

#include <memory>

#include "kernels/backend.h"
#include "kernels/cpu/causal_attention.h"
#include "kernels/cpu/dnnl_attention.h"
#include "kernels/cpu/dnnl_linear.h"
#include "kernels/cpu/dtype_choice.h"
#include "kernels/cpu/int8_linear.h"
#include "kernels/cpu/rotary.h"

namespace rerankd::cpu {

class CpuBackend final : public Backend {
 public:
  // threads <= 0: one per physical core.
  explicit CpuBackend(CpuPrecision precision = CpuPrecision::kFloat32, int threads = 0);

  std::string name() const override { return "cpu"; }
  std::string precision() const override { return precision_name(precision_); }
  std::string describe() const override;

  std::unique_ptr<LinearWeights> load_linear(std::span<const TensorView* const> weights,
                                             std::span<const TensorView* const> biases, LinearUse use) override;
  std::unique_ptr<NormWeights> load_norm(const TensorView& gamma, const TensorView& beta, double eps) override;
  std::unique_ptr<EmbeddingTables> load_embeddings(const TensorView& word, const TensorView& position,
                                                   const TensorView& token_type) override;
  std::unique_ptr<DeviceMatrix> new_matrix(int64_t capacity, int64_t width, MatrixUse use) override;

  void set_batch(const PackedBatch& batch) override;
  void embed(const EmbeddingTables& tables, const NormWeights& norm, DeviceMatrix& out) override;
  void linear(const DeviceMatrix& in, const LinearWeights& weights, Epilogue epilogue, DeviceMatrix& out) override;
  void linear_residual_norm(const DeviceMatrix& in, const LinearWeights& weights, const NormWeights& norm,
                            DeviceMatrix& inout) override;
  void attention(const DeviceMatrix& qkv, int64_t num_heads, DeviceMatrix& out) override;
  void gather_sequence_starts(const DeviceMatrix& in, DeviceMatrix& out) override;
  void read(const DeviceMatrix& in, std::span<float> out) override;

  // A decoder's ops (Backend's "a decoder's ops"), in cpu_decoder_ops.cpp.
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

  int threads() const override { return threads_; }

 private:
  CpuPrecision precision_;
  int threads_;
  dnnl::engine engine_;
  dnnl::stream stream_;
  DnnlLinearRunner linears_;       // float32: the head, and the encoder in float32
  DnnlLinearRunner bf16_linears_;  // the encoder in bfloat16
  Int8LinearRunner int8_linears_;
  DnnlAttention attention_;
  CausalAttention causal_attention_;
  RotaryTables rotary_;
  const PackedBatch* batch_ = nullptr;
};

}  // namespace rerankd::cpu
