#pragma once
// The decoder-LLM rerankers (Qwen3ForCausalLM, Qwen2ForCausalLM, GemmaForCausalLM), scored as
// their authors score them: the logits of answer tokens at each sequence's last position
// (Qwen3-Reranker: "yes" - "no"; mxbai-rerank-v2: "1" - "0"; bge-reranker-v2-gemma: "Yes").
//
// Pre-norm layers: RMSNorm, grouped-query causal self-attention with rotary positions (Qwen3:
// per-head q/k RMSNorm first), residual; RMSNorm, gated MLP (SwiGLU; Gemma GeGLU), residual.
// Only the last token of each sequence goes through the final norm and the head, and the head is
// one row: the difference of the answer tokens' rows of the output embedding, so the 150k-row
// vocabulary is never multiplied.
#include <filesystem>
#include <memory>
#include <vector>

#include "model/answer_tokens.h"
#include "model/cross_encoder.h"
#include "model/safetensors.h"

namespace rerankd {

class DecoderModel final : public CrossEncoder {
 public:
  // Reads the safetensors weights of `model_dir` for `config` (a decoder family) and hands them to
  // `backend`; `answer` says which tokens' logits score a pair. Throws Error(kModelFormat) naming
  // the file and tensor on any mismatch.
  DecoderModel(const std::filesystem::path& model_dir, ModelConfig config, Backend& backend,
               const BatchBounds& bounds, const AnswerTokens& answer);
  ~DecoderModel() override;

  const ModelConfig& config() const override { return config_; }
  DType stored_dtype() const override { return stored_dtype_; }
  std::unique_ptr<PendingRead> begin_forward(const PackedBatch& batch) override;

 private:
  struct Layer {
    std::unique_ptr<NormWeights> input_norm, post_attention_norm, q_norm, k_norm;
    std::unique_ptr<LinearWeights> qkv, o_proj, gate_up, down;
  };
  struct Workspace {
    int64_t tokens = 0, sequences = 0;
    std::unique_ptr<DeviceMatrix> hidden, normed, qkv, context, gate_up, activated;
    std::unique_ptr<DeviceMatrix> last, last_normed, logits;
  };
  void load_layer(int64_t index);
  void load_head(const AnswerTokens& answer);
  void ensure_workspace(int64_t tokens, int64_t sequences);

  Backend& backend_;
  ModelConfig config_;
  Checkpoint checkpoint_;  // keeps memory-mapped tables alive for backends that use them in place
  DType stored_dtype_;
  DecoderAttentionShape attention_;
  GatedActivation activation_;
  float norm_offset_;  // Gemma's RMSNorm multiplies by (1 + w)
  std::unique_ptr<EmbeddingTables> embeddings_;
  std::vector<Layer> layers_;
  std::unique_ptr<NormWeights> final_norm_;
  std::unique_ptr<LinearWeights> head_;
  Workspace ws_;
};

}  // namespace rerankd
