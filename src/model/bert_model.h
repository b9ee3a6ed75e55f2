#pragma once
// The BERT cross-encoder graph (BertForSequenceClassification, e.g. the ms-marco MiniLM
// cross-encoders): the shared encoder stack under "bert." (positions from 0, token types 0/1),
// then BERT's pooler on each sequence's first token ([CLS]): bert.pooler.dense, tanh, and the
// `classifier` Linear.
#include <filesystem>
#include <memory>
#include <vector>

#include "model/cross_encoder.h"
#include "model/encoder_stack.h"
#include "model/safetensors.h"

namespace rerankd {

class BertModel final : public CrossEncoder {
 public:
  // Throws Error(kModelFormat) naming the file and tensor on any mismatch.
  BertModel(const std::filesystem::path& model_dir, ModelConfig config, Backend& backend,
            const BatchBounds& bounds = {});
  ~BertModel() override;

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
