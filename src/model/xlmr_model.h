#pragma once
// The XLM-RoBERTa cross-encoder graph (XLMRobertaForSequenceClassification): embeddings, N
// post-LayerNorm encoder layers, and the classification head on each sequence's first token.
// It holds weight handles made by a Backend and expresses the forward pass in the Backend's ops;
// it does not know which hardware runs it. Not thread-safe: one compute thread owns a model.
#include <filesystem>
#include <memory>
#include <vector>

#include "kernels/backend.h"
#include "model/config.h"
#include "model/safetensors.h"

namespace rerankd {

// The largest batch a model's caller will run (0: not known), for a backend that allocates its
// workspace once (Backend::prepare).
struct BatchBounds {
  int64_t max_tokens = 0, max_sequences = 0, max_sequence_length = 0;
};

class XlmrModel {
 public:
  // Reads config.json and the safetensors weights of `model_dir` and hands them to `backend`.
  // Throws Error(kModelFormat) naming the file and field/tensor on any mismatch.
  XlmrModel(const std::filesystem::path& model_dir, Backend& backend, const BatchBounds& bounds = {});
  ~XlmrModel();

  const ModelConfig& config() const { return config_; }
  DType stored_dtype() const { return stored_dtype_; }
  Backend& backend() { return backend_; }

  // One logit row per sequence (config().num_labels each), in batch order.
  std::vector<float> forward(const PackedBatch& batch);

 private:
  struct Layer {
    std::unique_ptr<LinearWeights> qkv, attention_out, intermediate, output;
    std::unique_ptr<NormWeights> attention_norm, output_norm;
  };
  struct Workspace {
    int64_t tokens = 0, sequences = 0;
    std::unique_ptr<DeviceMatrix> hidden, qkv, context, intermediate, first_tokens, pooled, logits;
  };
  void ensure_workspace(int64_t tokens, int64_t sequences);

  Backend& backend_;
  ModelConfig config_;
  Checkpoint checkpoint_;  // keeps memory-mapped tables alive for backends that use them in place
  DType stored_dtype_;
  std::unique_ptr<EmbeddingTables> embeddings_;
  std::unique_ptr<NormWeights> embedding_norm_;
  std::vector<Layer> layers_;
  std::unique_ptr<LinearWeights> classifier_dense_, classifier_out_;
  Workspace ws_;
};

}  // namespace rerankd
