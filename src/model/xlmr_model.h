#pragma once
// The XLM-RoBERTa cross-encoder graph (XLMRobertaForSequenceClassification, and RoBERTa's):
// the shared encoder stack under "roberta.", then RobertaClassificationHead on each sequence's
// first token (<s>): classifier.dense, tanh, classifier.out_proj.
#include <filesystem>
#include <memory>
#include <vector>

#include "model/cross_encoder.h"
#include "model/encoder_stack.h"
#include "model/safetensors.h"

namespace rerankd {

class XlmrModel final : public CrossEncoder {
 public:
  // Reads config.json and the safetensors weights of `model_dir` and hands them to `backend`.
  // Throws Error(kModelFormat) naming the file and field/tensor on any mismatch.
  XlmrModel(const std::filesystem::path& model_dir, Backend& backend, const BatchBounds& bounds = {});
  XlmrModel(const std::filesystem::path& model_dir, ModelConfig config, Backend& backend,
            const BatchBounds& bounds = {});
  ~XlmrModel() override;

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
