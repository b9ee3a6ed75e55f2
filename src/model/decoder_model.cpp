#include "model/decoder_model.h"

#include <array>
#include <cmath>
#include <string>

#include "common/error.h"

namespace rerankd {
namespace {

std::string layer_prefix(int64_t i) { return "model.layers." + std::to_string(i) + "."; }

}  // namespace

DecoderModel::DecoderModel(const std::filesystem::path& model_dir, ModelConfig config, Backend& backend,
                           const BatchBounds& bounds, const AnswerTokens& answer)
    : backend_(backend),
      config_(std::move(config)),
      checkpoint_(Checkpoint::open(model_dir)),
      stored_dtype_(checkpoint_.dominant_dtype()),
      attention_{.q_heads = config_.num_heads, .kv_heads = config_.num_kv_heads, .head_dim = config_.head_dim(),
                 .rope_theta = config_.rope_theta},
      activation_(config_.family == ModelFamily::kGemma ? GatedActivation::kGeluTanh : GatedActivation::kSilu),
      norm_offset_(config_.family == ModelFamily::kGemma ? 1.f : 0.f) {
  if (!config_.decoder()) throw Error(Error::Kind::kInternal, "DecoderModel built for " + config_.architecture);
  const ModelConfig& c = config_;
  const BatchBounds largest = bounds.largest_pass(c.max_sequence_length());
  const bool allocate_now = backend_.prepare({.hidden = c.hidden_size, .intermediate = c.intermediate_size,
                                              .heads = c.num_heads, .layers = c.num_layers, .labels = 1,
                                              .kv_heads = c.num_kv_heads, .head_dim = c.head_dim(),
                                              .vocab = c.vocab_size, .positions = 0, .token_types = 0,
                                              .batch = largest});
  // Gemma scales the embeddings by sqrt(hidden), a constant transformers casts to the
  // activations' dtype (float32 here).
  const float scale = c.family == ModelFamily::kGemma ? static_cast<float>(std::sqrt(static_cast<double>(c.hidden_size)))
                                                      : 1.f;
  embeddings_ =
      backend_.load_token_embeddings(checkpoint_.get("model.embed_tokens.weight", {c.vocab_size, c.hidden_size}), scale);
  for (int64_t i = 0; i < c.num_layers; ++i) load_layer(i);
  final_norm_ = backend_.load_rms_norm(checkpoint_.get("model.norm.weight", {c.hidden_size}), c.layer_norm_eps,
                                       norm_offset_);
  load_head(answer);
  checkpoint_.check_all_used();
  if (allocate_now) ensure_workspace(largest.max_tokens, largest.max_sequences);
}

DecoderModel::~DecoderModel() = default;

void DecoderModel::load_layer(int64_t index) {
  const ModelConfig& c = config_;
  const int64_t H = c.hidden_size, I = c.intermediate_size, Q = attention_.q_width(), KV = attention_.kv_width();
  const std::string p = layer_prefix(index);
  auto norm = [&](const std::string& name, int64_t width) {
    return backend_.load_rms_norm(checkpoint_.get(name, {width}), c.layer_norm_eps, norm_offset_);
  };
  Layer layer;
  layer.input_norm = norm(p + "input_layernorm.weight", H);
  layer.post_attention_norm = norm(p + "post_attention_layernorm.weight", H);
  // Query, key and value run as one matmul, [q | k | v] per row.
  const std::string a = p + "self_attn.";
  const std::array<const TensorView*, 3> qkv_w{&checkpoint_.get(a + "q_proj.weight", {Q, H}),
                                               &checkpoint_.get(a + "k_proj.weight", {KV, H}),
                                               &checkpoint_.get(a + "v_proj.weight", {KV, H})};
  std::vector<const TensorView*> qkv_b;
  if (c.attention_bias) {
    qkv_b = {&checkpoint_.get(a + "q_proj.bias", {Q}), &checkpoint_.get(a + "k_proj.bias", {KV}),
             &checkpoint_.get(a + "v_proj.bias", {KV})};
  }
  layer.qkv = backend_.load_linear(qkv_w, qkv_b, LinearUse::kEncoder);
  const std::array<const TensorView*, 1> o_w{&checkpoint_.get(a + "o_proj.weight", {H, Q})};
  layer.o_proj = backend_.load_linear(o_w, {}, LinearUse::kEncoder);
  if (c.family == ModelFamily::kQwen3) {
    // Qwen3Attention's per-head RMSNorm of queries and keys (plain w, whatever the family's offset).
    const int64_t d = attention_.head_dim;
    layer.q_norm = backend_.load_rms_norm(checkpoint_.get(a + "q_norm.weight", {d}), c.layer_norm_eps, 0.f);
    layer.k_norm = backend_.load_rms_norm(checkpoint_.get(a + "k_norm.weight", {d}), c.layer_norm_eps, 0.f);
  }
  // Gate and up run as one matmul, [gate | up] per row, for the gated activation.
  const std::string m = p + "mlp.";
  const std::array<const TensorView*, 2> gate_up_w{&checkpoint_.get(m + "gate_proj.weight", {I, H}),
                                                   &checkpoint_.get(m + "up_proj.weight", {I, H})};
  layer.gate_up = backend_.load_linear(gate_up_w, {}, LinearUse::kEncoder);
  const std::array<const TensorView*, 1> down_w{&checkpoint_.get(m + "down_proj.weight", {H, I})};
  layer.down = backend_.load_linear(down_w, {}, LinearUse::kEncoder);
  layers_.push_back(std::move(layer));
}

void DecoderModel::load_head(const AnswerTokens& answer) {
  const ModelConfig& c = config_;
  const int64_t H = c.hidden_size;
  if (answer.positive < 0 || answer.positive >= c.vocab_size || answer.negative >= c.vocab_size) {
    throw Error(Error::Kind::kInternal, "the answer tokens lie outside the vocabulary");
  }
  // A tied model's output layer is its token table; an untied one has lm_head. A tied checkpoint
  // that also stores lm_head (some exports do) is read as transformers reads it: tied.
  const bool has_lm_head = checkpoint_.contains("lm_head.weight");
  if (!c.tie_word_embeddings && !has_lm_head) {
    throw Error(Error::Kind::kModelFormat, checkpoint_.files().front().string() +
                                               ": tensor 'lm_head.weight' is missing and config.json's "
                                               "tie_word_embeddings is false");
  }
  const TensorView& out = has_lm_head && !c.tie_word_embeddings
                              ? checkpoint_.get("lm_head.weight", {c.vocab_size, H})
                              : checkpoint_.get("model.embed_tokens.weight", {c.vocab_size, H});
  if (has_lm_head && c.tie_word_embeddings) checkpoint_.get("lm_head.weight", {c.vocab_size, H});
  // One row: w[positive] - w[negative], so the head's one output is the logits' difference. The
  // rows are widened and subtracted in double, then rounded once.
  auto row = [&](int32_t id) {
    TensorView v = out;
    v.shape = {1, H};
    v.nbytes = static_cast<size_t>(H) * dtype_size(out.dtype);
    v.data = out.data + static_cast<size_t>(id) * v.nbytes;
    return to_f32(v);
  };
  const std::vector<float> positive = row(answer.positive);
  std::vector<float> difference(static_cast<size_t>(H));
  if (answer.negative >= 0) {
    const std::vector<float> negative = row(answer.negative);
    for (size_t j = 0; j < difference.size(); ++j) {
      difference[j] = static_cast<float>(static_cast<double>(positive[j]) - static_cast<double>(negative[j]));
    }
  } else {
    difference = positive;
  }
  TensorView head{.name = "answer tokens (" + out.name + ")",
                  .file = out.file,
                  .dtype = DType::kF32,
                  .shape = {1, H},
                  .data = reinterpret_cast<const std::byte*>(difference.data()),
                  .nbytes = difference.size() * sizeof(float)};
  const std::array<const TensorView*, 1> w{&head};
  head_ = backend_.load_linear(w, {}, LinearUse::kHead);
}

void DecoderModel::ensure_workspace(int64_t tokens, int64_t sequences) {
  const int64_t H = config_.hidden_size, I = config_.intermediate_size;
  if (tokens > ws_.tokens) {
    ws_.hidden = backend_.new_matrix(tokens, H, MatrixUse::kGeneral);
    ws_.normed = backend_.new_matrix(tokens, H, MatrixUse::kLinearInput);
    ws_.qkv = backend_.new_matrix(tokens, attention_.q_width() + 2 * attention_.kv_width(), MatrixUse::kAttention);
    ws_.context = backend_.new_matrix(tokens, attention_.q_width(), MatrixUse::kAttention);
    // The MLP's matrices are written after the attention's last read of qkv and context, and read
    // before the next layer writes them: they may share their memory.
    const std::array<const DeviceMatrix*, 2> dead{ws_.qkv.get(), ws_.context.get()};
    ws_.gate_up = backend_.new_matrix_over(tokens, 2 * I, MatrixUse::kGeneral, dead);
    ws_.activated = backend_.new_matrix(tokens, I, MatrixUse::kLinearInput);
    ws_.tokens = tokens;
  }
  if (sequences > ws_.sequences) {
    ws_.last = backend_.new_matrix(sequences, H, MatrixUse::kGeneral);
    ws_.last_normed = backend_.new_matrix(sequences, H, MatrixUse::kGeneral);
    ws_.logits = backend_.new_matrix(sequences, 1, MatrixUse::kGeneral);
    ws_.sequences = sequences;
  }
}

std::unique_ptr<PendingRead> DecoderModel::begin_forward(const PackedBatch& batch) {
  const auto sequences = static_cast<int64_t>(batch.num_sequences());
  if (sequences == 0) return std::make_unique<ReadyRead>(std::vector<float>{});
  for (size_t s = 0; s < batch.num_sequences(); ++s) {
    if (batch.length(s) <= 0 || batch.length(s) > config_.max_sequence_length()) {
      throw Error(Error::Kind::kInternal, "sequence " + std::to_string(s) + " has " +
                                              std::to_string(batch.length(s)) + " tokens; the model takes 1.." +
                                              std::to_string(config_.max_sequence_length()));
    }
  }
  ensure_workspace(static_cast<int64_t>(batch.num_tokens()), sequences);
  Workspace& w = ws_;
  backend_.set_batch(batch);
  backend_.embed_tokens(*embeddings_, *w.hidden);
  for (const Layer& layer : layers_) {
    backend_.rms_norm(*w.hidden, *layer.input_norm, *w.normed);
    backend_.linear(*w.normed, *layer.qkv, Epilogue::kNone, *w.qkv);
    backend_.rotate_queries_keys(*w.qkv, attention_, layer.q_norm.get(), layer.k_norm.get());
    backend_.causal_attention(*w.qkv, attention_, *w.context);
    backend_.linear_residual(*w.context, *layer.o_proj, *w.hidden);
    backend_.rms_norm(*w.hidden, *layer.post_attention_norm, *w.normed);
    backend_.linear(*w.normed, *layer.gate_up, Epilogue::kNone, *w.gate_up);
    backend_.gated_activation(*w.gate_up, activation_, *w.activated);
    backend_.linear_residual(*w.activated, *layer.down, *w.hidden);
  }
  backend_.gather_sequence_ends(*w.hidden, *w.last);
  backend_.rms_norm(*w.last, *final_norm_, *w.last_normed);
  backend_.linear(*w.last_normed, *head_, Epilogue::kNone, *w.logits);
  return backend_.read_async(*w.logits, static_cast<size_t>(sequences));
}

}  // namespace rerankd
