#pragma once
// The encoder cross-encoders: XLM-RoBERTa / RoBERTa and BERT sequence classifiers. They are one
// graph (embeddings, post-LayerNorm encoder layers, a tanh head on each sequence's first token)
// that differs only in where the checkpoint keeps its tensors; a table in encoder_model.cpp says
// where, per family.
#include <filesystem>
#include <memory>

#include "model/cross_encoder.h"
#include "model/encoder_stack.h"
#include "model/safetensors.h"

namespace rerankd {

class EncoderModel final : public CrossEncoder {
 public:
  // Reads the safetensors weights of `model_dir` for `config` (an encoder family) and hands them to
  // `backend`. Throws Error(kModelFormat) naming the file and tensor on any mismatch.
  EncoderModel(const std::filesystem::path& model_dir, ModelConfig config, Backend& backend,
               const BatchBounds& bounds = {});
  ~EncoderModel() override;

  const ModelConfig& config() const override { return config_; }
  DType stored_dtype() const override { return stored_dtype_; }
  std::unique_ptr<PendingRead> begin_forward(const PackedBatch& batch) override;

 private:
  Backend& backend_;
  ModelConfig config_;
  Checkpoint checkpoint_;  // keeps memory-mapped tables alive for backends that use them in place
  DType stored_dtype_;
  std::unique_ptr<EncoderStack> encoder_;
  std::unique_ptr<TanhHead> head_;
};

}  // namespace rerankd
