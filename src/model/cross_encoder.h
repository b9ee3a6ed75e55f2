#pragma once
// A cross-encoder graph: one logit row per (query, document) sequence. One implementation per
// kind of graph (encoder_model.h), chosen from config.json by load_cross_encoder. A
// graph holds weight handles made by a Backend and expresses the forward pass in the Backend's
// ops; it does not know which hardware runs it. Not thread-safe: one compute thread owns a model.
#include <filesystem>
#include <memory>
#include <vector>

#include "kernels/backend.h"
#include "model/answer_tokens.h"
#include "model/config.h"
#include "tensor/batch_bounds.h"

namespace rerankd {

class CrossEncoder {
 public:
  virtual ~CrossEncoder() = default;
  virtual const ModelConfig& config() const = 0;
  virtual DType stored_dtype() const = 0;  // the dtype most weights are stored in
  // Queues a pass over `batch` on the backend and returns what collects its logits: one row per
  // sequence (config().num_labels each), in batch order. The next pass may be begun before this
  // one is collected, up to the backend's pass_slots() outstanding, collected in order.
  virtual std::unique_ptr<PendingRead> begin_forward(const PackedBatch& batch) = 0;
  std::vector<float> forward(const PackedBatch& batch) { return begin_forward(batch)->wait(); }
};

// Builds the graph `config` (model_dir's config.json, read by load_model_config, which refuses
// unsupported architectures) names, loading the safetensors weights of `model_dir` into
// `backend`, told `bounds` first. A decoder also needs its tokenizer's `answer` tokens. Throws
// Error(kModelFormat) naming the file and tensor at fault.
std::unique_ptr<CrossEncoder> load_cross_encoder(const std::filesystem::path& model_dir, ModelConfig config,
                                                 Backend& backend, const BatchBounds& bounds = {},
                                                 const AnswerTokens& answer = {});

}  // namespace rerankd
