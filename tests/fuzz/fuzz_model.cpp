// The model loader on hostile files: config.json and model.safetensors as the fuzzer makes them,
// through load_cross_encoder (config parsing, the safetensors header, every tensor lookup and
// shape check) onto a backend that reads every byte of every tensor it is given, so that a view
// reaching past its file is an ASan report. Loading must succeed or throw rerankd::Error.
//
// Input: a 2-byte little-endian length n, then n bytes of config.json, then model.safetensors.
#include <cstring>
#include <span>

#include "common/error.h"
#include "fuzz_support.h"
#include "kernels/backend.h"
#include "model/cross_encoder.h"

namespace rerankd {
namespace {

// Reads each tensor whole (widened to float32, as a real backend would) and keeps nothing.
class ReadingBackend final : public Backend {
 public:
  std::string name() const override { return "fuzz"; }
  std::string precision() const override { return "float32"; }
  std::string describe() const override { return "fuzz"; }

  std::unique_ptr<LinearWeights> load_linear(std::span<const TensorView* const> weights,
                                             std::span<const TensorView* const> biases, LinearUse) override {
    for (const TensorView* w : weights) touch(*w);
    for (const TensorView* b : biases) touch(*b);
    return std::make_unique<LinearWeights>();
  }
  std::unique_ptr<NormWeights> load_norm(const TensorView& gamma, const TensorView& beta, double) override {
    touch(gamma);
    touch(beta);
    return std::make_unique<NormWeights>();
  }
  std::unique_ptr<EmbeddingTables> load_embeddings(const TensorView& word, const TensorView& position,
                                                   const TensorView& token_type) override {
    touch(word);
    touch(position);
    touch(token_type);
    return std::make_unique<EmbeddingTables>();
  }
  std::unique_ptr<NormWeights> load_rms_norm(const TensorView& gamma, double, float) override {
    touch(gamma);
    return std::make_unique<NormWeights>();
  }
  std::unique_ptr<EmbeddingTables> load_token_embeddings(const TensorView& word, float) override {
    touch(word);
    return std::make_unique<EmbeddingTables>();
  }
  std::unique_ptr<DeviceMatrix> new_matrix(int64_t, int64_t, MatrixUse) override { return nullptr; }
  void set_batch(const PackedBatch&) override {}
  void embed(const EmbeddingTables&, const NormWeights&, DeviceMatrix&) override {}
  void linear(const DeviceMatrix&, const LinearWeights&, Epilogue, DeviceMatrix&) override {}
  void linear_residual_norm(const DeviceMatrix&, const LinearWeights&, const NormWeights&, DeviceMatrix&) override {}
  void attention(const DeviceMatrix&, int64_t, DeviceMatrix&) override {}
  void gather_sequence_starts(const DeviceMatrix&, DeviceMatrix&) override {}
  void read(const DeviceMatrix&, std::span<float>) override {}
  void embed_tokens(const EmbeddingTables&, DeviceMatrix&) override {}
  void rms_norm(const DeviceMatrix&, const NormWeights&, DeviceMatrix&) override {}
  void linear_residual(const DeviceMatrix&, const LinearWeights&, DeviceMatrix&) override {}
  void gated_activation(const DeviceMatrix&, GatedActivation, DeviceMatrix&) override {}
  void rotate_queries_keys(DeviceMatrix&, const DecoderAttentionShape&, const NormWeights*, const NormWeights*) override {}
  void causal_attention(const DeviceMatrix&, const DecoderAttentionShape&, DeviceMatrix&) override {}
  void gather_sequence_ends(const DeviceMatrix&, DeviceMatrix&) override {}

 private:
  static void touch(const TensorView& view) {
    const std::vector<float> values = to_f32(view);
    if (values.size() != static_cast<size_t>(view.numel())) __builtin_trap();
  }
};

}  // namespace
}  // namespace rerankd

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rerankd;
  if (size < 2) return 0;
  size_t config_len = data[0] | (size_t{data[1]} << 8);
  config_len = std::min(config_len, size - 2);
  const auto& dir = fuzz::scratch_dir();
  fuzz::write_file(dir / "config.json", fuzz::as_text(data + 2, config_len));
  fuzz::write_file(dir / "model.safetensors", fuzz::as_text(data + 2 + config_len, size - 2 - config_len));
  ReadingBackend backend;
  try {
    load_cross_encoder(dir, load_model_config(dir / "config.json"), backend);
  } catch (const Error&) {
    // Refused with a message: what a hostile file must get.
  }
  return 0;
}
