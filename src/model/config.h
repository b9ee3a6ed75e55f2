#pragma once
// config.json of a Hugging Face reranker checkpoint: an encoder sequence classifier (XLM-RoBERTa /
// RoBERTa, BERT) or a decoder LLM scored by its answer tokens' logits (Qwen3, Qwen2, Gemma).
#include <cstdint>
#include <filesystem>
#include <string>

#include "tensor/packed_batch.h"

namespace rerankd {

// Which graph and tokenizer a checkpoint needs, from its `architectures` (or `model_type`).
enum class ModelFamily {
  kRoberta,  // XLMRobertaForSequenceClassification, RobertaForSequenceClassification
  kBert,     // BertForSequenceClassification
  kQwen3,    // Qwen3ForCausalLM: Qwen3-Reranker
  kQwen2,    // Qwen2ForCausalLM: mxbai-rerank-v2
  kGemma,    // GemmaForCausalLM: bge-reranker-v2-gemma
};

inline bool is_decoder(ModelFamily family) {
  return family == ModelFamily::kQwen3 || family == ModelFamily::kQwen2 || family == ModelFamily::kGemma;
}

struct ModelConfig {
  ModelFamily family = ModelFamily::kRoberta;
  std::string model_type;    // "xlm-roberta", "roberta" or "bert"
  std::string architecture;  // e.g. "XLMRobertaForSequenceClassification"
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t intermediate_size = 0;
  int64_t vocab_size = 0;
  int64_t max_position_embeddings = 0;
  int64_t type_vocab_size = 1;
  int64_t pad_token_id = 1;
  int64_t num_labels = 1;
  double layer_norm_eps = 1e-5;
  std::string hidden_act;    // encoders: only "gelu" (exact erf); decoders: their MLP's activation
  std::string torch_dtype;   // informational: the dtype the checkpoint was saved in

  // Decoders only.
  int64_t num_kv_heads = 0;      // grouped-query attention's key/value heads
  int64_t decoder_head_dim = 0;  // config's head_dim (Qwen3, Gemma), else hidden / heads
  double rope_theta = 10000;
  bool attention_bias = false;       // q/k/v projections with biases (Qwen2)
  bool tie_word_embeddings = false;  // the output layer is the token table

  bool decoder() const { return is_decoder(family); }
  int64_t head_dim() const { return decoder() ? decoder_head_dim : hidden_size / num_heads; }
  // Position id of a sequence's first token: RoBERTa counts from pad_token_id + 1, others from 0.
  int64_t first_position() const { return family == ModelFamily::kRoberta ? pad_token_id + 1 : 0; }
  PositionRule position_rule() const {
    return {.first = static_cast<int32_t>(first_position()),
            .pad_id = family == ModelFamily::kRoberta ? static_cast<int32_t>(pad_token_id) : -1};
  }
  // Longest token sequence the position table allows.
  int64_t max_sequence_length() const { return max_position_embeddings - first_position(); }
};

// Reads and validates config.json; throws Error(kModelFormat) naming the file and the field.
ModelConfig load_model_config(const std::filesystem::path& config_json);

}  // namespace rerankd
