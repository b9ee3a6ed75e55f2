#pragma once
// What BERT and RoBERTa share: the embeddings (word + position + token type, LayerNorm) and the
// N post-LayerNorm encoder layers, read from the checkpoint under the family's tensor prefix
// ("bert.", "roberta."). The graphs add their own classification heads on the first tokens.
#include <memory>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "model/config.h"
#include "model/cross_encoder.h"
#include "model/safetensors.h"

namespace rerankd {

// The Linear `name`.weight [out, in] and `name`.bias [out] of the checkpoint.
std::unique_ptr<LinearWeights> load_linear(Checkpoint& checkpoint, Backend& backend, const std::string& name,
                                           int64_t out, int64_t in, LinearUse use);

// A Linear with tanh on each sequence's first token, then the Linear to the labels: RoBERTa's
// classification head and BERT's pooler + classifier alike.
class TanhHead {
 public:
  TanhHead(Backend& backend, std::unique_ptr<LinearWeights> dense, std::unique_ptr<LinearWeights> out);
  ~TanhHead();
  // Allocates the head's activations for `sequences` now (0: leave it to the first run).
  void reserve(int64_t sequences);
  // Queues the head over the first tokens EncoderStack returned; the pending read gives the
  // logits, [sequences, labels] row-major.
  std::unique_ptr<PendingRead> run(const DeviceMatrix& first_tokens);

 private:
  Backend& backend_;
  std::unique_ptr<LinearWeights> dense_, out_;
  std::unique_ptr<DeviceMatrix> pooled_, logits_;
};

class EncoderStack {
 public:
  // Tells `backend` the model's shape and `bounds` (Backend::prepare) before loading any weight;
  // when the backend asks for it, allocates the activations for the largest batch right away.
  EncoderStack(Checkpoint& checkpoint, const ModelConfig& config, Backend& backend, const std::string& prefix,
               const BatchBounds& bounds);
  ~EncoderStack();

  // The sequences the activations were allocated for at load (0: they grow with the batches), for
  // the head to allocate its own alike.
  int64_t planned_sequences() const { return planned_sequences_; }

  // Hands `batch` to the backend, runs the embeddings and every layer over it and returns each sequence's
  // first token's final hidden state, [sequences, hidden]. Throws Error(kInvalidInput) when a
  // sequence is empty or longer than the position table allows.
  const DeviceMatrix& first_tokens(const PackedBatch& batch);

 private:
  struct Layer {
    std::unique_ptr<LinearWeights> qkv, attention_out, intermediate, output;
    std::unique_ptr<NormWeights> attention_norm, output_norm;
  };
  struct Workspace {
    int64_t tokens = 0, sequences = 0;
    std::unique_ptr<DeviceMatrix> hidden, qkv, context, intermediate, first_tokens;
  };
  void ensure_workspace(int64_t tokens, int64_t sequences);

  const ModelConfig& config_;
  Backend& backend_;
  std::unique_ptr<EmbeddingTables> embeddings_;
  std::unique_ptr<NormWeights> embedding_norm_;
  std::vector<Layer> layers_;
  Workspace ws_;
  int64_t planned_sequences_ = 0;
};

}  // namespace rerankd
