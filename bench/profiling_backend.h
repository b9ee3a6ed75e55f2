#pragma once
// A Backend that hands every call to another one and adds up the wall time each forward-pass op
// takes, by op and weight shape ("linear_residual_norm 4096->1024"), for rerankd_bench --profile.
// The CPU backend's ops are synchronous, so a call's wall time is its cost; an asynchronous backend
// would need a device sync per op first.
#include <chrono>
#include <map>
#include <string>

#include "kernels/backend.h"

namespace rerankd::bench {

class ProfilingBackend final : public Backend {
 public:
  explicit ProfilingBackend(Backend& inner) : inner_(inner) {}

  struct OpTotal {
    double seconds = 0;
    int64_t calls = 0;
  };
  const std::map<std::string, OpTotal>& totals() const { return totals_; }
  void reset() { totals_.clear(); }

  std::string name() const override { return inner_.name(); }
  std::string precision() const override { return inner_.precision(); }
  std::string describe() const override { return inner_.describe(); }
  std::unique_ptr<LinearWeights> load_linear(std::span<const TensorView* const> weights,
                                             std::span<const TensorView* const> biases, LinearUse use) override {
    return inner_.load_linear(weights, biases, use);
  }
  std::unique_ptr<NormWeights> load_norm(const TensorView& gamma, const TensorView& beta, double eps) override {
    return inner_.load_norm(gamma, beta, eps);
  }
  std::unique_ptr<EmbeddingTables> load_embeddings(const TensorView& word, const TensorView& position,
                                                   const TensorView& token_type) override {
    return inner_.load_embeddings(word, position, token_type);
  }
  std::unique_ptr<NormWeights> load_rms_norm(const TensorView& gamma, double eps, float offset) override {
    return inner_.load_rms_norm(gamma, eps, offset);
  }
  std::unique_ptr<EmbeddingTables> load_token_embeddings(const TensorView& word, float scale) override {
    return inner_.load_token_embeddings(word, scale);
  }
  bool prepare(const ModelShape& shape) override { return inner_.prepare(shape); }
  std::unique_ptr<DeviceMatrix> new_matrix(int64_t capacity, int64_t width, MatrixUse use) override {
    return inner_.new_matrix(capacity, width, use);
  }
  std::unique_ptr<DeviceMatrix> new_matrix_over(int64_t capacity, int64_t width, MatrixUse use,
                                                std::span<const DeviceMatrix* const> dead) override {
    return inner_.new_matrix_over(capacity, width, use, dead);
  }

  void set_batch(const PackedBatch& batch) override { inner_.set_batch(batch); }
  void embed(const EmbeddingTables& tables, const NormWeights& norm, DeviceMatrix& out) override {
    timed("embed", [&] { inner_.embed(tables, norm, out); });
  }
  void linear(const DeviceMatrix& in, const LinearWeights& weights, Epilogue epilogue, DeviceMatrix& out) override {
    static constexpr const char* kEpilogues[] = {"", " +gelu", " +tanh"};
    timed("linear " + shape(weights) + kEpilogues[static_cast<int>(epilogue)],
          [&] { inner_.linear(in, weights, epilogue, out); });
  }
  void linear_residual_norm(const DeviceMatrix& in, const LinearWeights& weights, const NormWeights& norm,
                            DeviceMatrix& inout) override {
    timed("linear_residual_norm " + shape(weights), [&] { inner_.linear_residual_norm(in, weights, norm, inout); });
  }
  void attention(const DeviceMatrix& qkv, int64_t num_heads, DeviceMatrix& out) override {
    timed("attention", [&] { inner_.attention(qkv, num_heads, out); });
  }
  void gather_sequence_starts(const DeviceMatrix& in, DeviceMatrix& out) override {
    timed("gather_sequence_starts", [&] { inner_.gather_sequence_starts(in, out); });
  }
  void read(const DeviceMatrix& in, std::span<float> out) override {
    timed("read", [&] { inner_.read(in, out); });
  }
  void embed_tokens(const EmbeddingTables& tables, DeviceMatrix& out) override {
    timed("embed_tokens", [&] { inner_.embed_tokens(tables, out); });
  }
  void rms_norm(const DeviceMatrix& in, const NormWeights& norm, DeviceMatrix& out) override {
    timed("rms_norm", [&] { inner_.rms_norm(in, norm, out); });
  }
  void linear_residual(const DeviceMatrix& in, const LinearWeights& weights, DeviceMatrix& inout) override {
    timed("linear_residual " + shape(weights), [&] { inner_.linear_residual(in, weights, inout); });
  }
  void gated_activation(const DeviceMatrix& gate_up, GatedActivation activation, DeviceMatrix& out) override {
    timed("gated_activation", [&] { inner_.gated_activation(gate_up, activation, out); });
  }
  void rotate_queries_keys(DeviceMatrix& qkv, const DecoderAttentionShape& shape, const NormWeights* q_norm,
                           const NormWeights* k_norm) override {
    timed("rotate_queries_keys", [&] { inner_.rotate_queries_keys(qkv, shape, q_norm, k_norm); });
  }
  void causal_attention(const DeviceMatrix& qkv, const DecoderAttentionShape& shape, DeviceMatrix& out) override {
    timed("causal_attention", [&] { inner_.causal_attention(qkv, shape, out); });
  }
  void gather_sequence_ends(const DeviceMatrix& in, DeviceMatrix& out) override {
    timed("gather_sequence_ends", [&] { inner_.gather_sequence_ends(in, out); });
  }

 private:
  static std::string shape(const LinearWeights& w) {
    return std::to_string(w.in_features) + "->" + std::to_string(w.out_features);
  }
  template <typename F>
  void timed(const std::string& op, F&& run) {
    const auto start = std::chrono::steady_clock::now();
    run();
    OpTotal& total = totals_[op];
    total.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ++total.calls;
  }

  Backend& inner_;
  std::map<std::string, OpTotal> totals_;
};

}  // namespace rerankd::bench
