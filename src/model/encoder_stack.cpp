#include "model/encoder_stack.h"

#include <algorithm>
#include <array>

#include "common/error.h"

namespace rerankd {

std::unique_ptr<LinearWeights> load_linear(Checkpoint& checkpoint, Backend& backend, const std::string& name,
                                           int64_t out, int64_t in, LinearUse use) {
  const std::array<const TensorView*, 1> w{&checkpoint.get(name + ".weight", {out, in})};
  const std::array<const TensorView*, 1> b{&checkpoint.get(name + ".bias", {out})};
  return backend.load_linear(w, b, use);
}

TanhHead::TanhHead(Backend& backend, std::unique_ptr<LinearWeights> dense, std::unique_ptr<LinearWeights> out)
    : backend_(backend), dense_(std::move(dense)), out_(std::move(out)) {}

TanhHead::~TanhHead() = default;

void TanhHead::reserve(int64_t sequences) {
  if (sequences <= 0 || (pooled_ && sequences <= pooled_->capacity)) return;
  pooled_ = backend_.new_matrix(sequences, dense_->out_features, MatrixUse::kGeneral);
  logits_ = backend_.new_matrix(sequences, out_->out_features, MatrixUse::kGeneral);
}

std::unique_ptr<PendingRead> TanhHead::run(const DeviceMatrix& first_tokens) {
  const int64_t sequences = first_tokens.rows;
  reserve(sequences);
  backend_.linear(first_tokens, *dense_, Epilogue::kTanh, *pooled_);
  backend_.linear(*pooled_, *out_, Epilogue::kNone, *logits_);
  return backend_.read_async(*logits_, static_cast<size_t>(sequences * out_->out_features));
}

EncoderStack::EncoderStack(Checkpoint& ck, const ModelConfig& c, Backend& backend, const std::string& prefix,
                           const BatchBounds& bounds)
    : config_(c), backend_(backend) {
  const int64_t H = c.hidden_size, I = c.intermediate_size;
  const BatchBounds largest = bounds.largest_pass(c.max_sequence_length());
  const bool allocate_now = backend_.prepare({.hidden = H, .intermediate = I, .heads = c.num_heads,
                                              .layers = c.num_layers, .labels = c.num_labels,
                                              .vocab = c.vocab_size, .positions = c.max_position_embeddings,
                                              .token_types = c.type_vocab_size, .batch = largest});
  const std::string emb = prefix + "embeddings.";
  embeddings_ = backend_.load_embeddings(ck.get(emb + "word_embeddings.weight", {c.vocab_size, H}),
                                         ck.get(emb + "position_embeddings.weight", {c.max_position_embeddings, H}),
                                         ck.get(emb + "token_type_embeddings.weight", {c.type_vocab_size, H}));
  embedding_norm_ =
      backend_.load_norm(ck.get(emb + "LayerNorm.weight", {H}), ck.get(emb + "LayerNorm.bias", {H}), c.layer_norm_eps);
  // Older checkpoints carry the buffers transformers registers beside these tables. The engine
  // computes positions and token types itself, so a buffer must say the same or the file is not
  // what it claims to be (old transformers would have used BERT's buffer as it is).
  ck.check_buffer(emb + "position_ids", c.max_position_embeddings, IndexPattern::kArange);
  ck.check_buffer(emb + "token_type_ids", c.max_position_embeddings, IndexPattern::kZeros);

  auto linear = [&](const std::string& name, int64_t out, int64_t in) {
    return load_linear(ck, backend_, name, out, in, LinearUse::kEncoder);
  };
  auto norm = [&](const std::string& name) {
    return backend_.load_norm(ck.get(name + ".weight", {H}), ck.get(name + ".bias", {H}), c.layer_norm_eps);
  };
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = prefix + "encoder.layer." + std::to_string(i) + ".";
    Layer layer;
    // Query, key and value run as one [3H, H] matmul.
    const std::array<const TensorView*, 3> qkv_w{&ck.get(p + "attention.self.query.weight", {H, H}),
                                                 &ck.get(p + "attention.self.key.weight", {H, H}),
                                                 &ck.get(p + "attention.self.value.weight", {H, H})};
    const std::array<const TensorView*, 3> qkv_b{&ck.get(p + "attention.self.query.bias", {H}),
                                                 &ck.get(p + "attention.self.key.bias", {H}),
                                                 &ck.get(p + "attention.self.value.bias", {H})};
    layer.qkv = backend_.load_linear(qkv_w, qkv_b, LinearUse::kEncoder);
    layer.attention_out = linear(p + "attention.output.dense", H, H);
    layer.attention_norm = norm(p + "attention.output.LayerNorm");
    layer.intermediate = linear(p + "intermediate.dense", I, H);
    layer.output = linear(p + "output.dense", H, I);
    layer.output_norm = norm(p + "output.LayerNorm");
    layers_.push_back(std::move(layer));
  }
  if (allocate_now) {
    ensure_workspace(largest.max_tokens, largest.max_sequences);
    planned_sequences_ = largest.max_sequences;
  }
}

EncoderStack::~EncoderStack() = default;

void EncoderStack::ensure_workspace(int64_t tokens, int64_t sequences) {
  const int64_t H = config_.hidden_size;
  if (tokens > ws_.tokens) {
    ws_.hidden = backend_.new_matrix(tokens, H, MatrixUse::kGeneral);
    ws_.qkv = backend_.new_matrix(tokens, 3 * H, MatrixUse::kAttention);
    ws_.context = backend_.new_matrix(tokens, H, MatrixUse::kAttention);
    // Written after attention has read qkv and the output projection has read context, and read
    // before the next layer writes them: it may share their memory.
    const std::array<const DeviceMatrix*, 2> dead{ws_.qkv.get(), ws_.context.get()};
    ws_.intermediate = backend_.new_matrix_over(tokens, config_.intermediate_size, MatrixUse::kLinearInput, dead);
    ws_.tokens = tokens;
  }
  if (sequences > ws_.sequences) {
    ws_.first_tokens = backend_.new_matrix(sequences, H, MatrixUse::kGeneral);
    ws_.sequences = sequences;
  }
}

const DeviceMatrix& EncoderStack::first_tokens(const PackedBatch& batch) {
  for (size_t s = 0; s < batch.num_sequences(); ++s) {
    const int64_t length = batch.seq_starts[s + 1] - batch.seq_starts[s];
    if (length <= 0 || length > config_.max_sequence_length()) {
      throw Error(Error::Kind::kInternal, "sequence " + std::to_string(s) + " has " + std::to_string(length) +
                                                  " tokens; the model takes 1.." +
                                                  std::to_string(config_.max_sequence_length()));
    }
  }
  ensure_workspace(static_cast<int64_t>(batch.num_tokens()), static_cast<int64_t>(batch.num_sequences()));
  Workspace& w = ws_;
  backend_.set_batch(batch);
  backend_.embed(*embeddings_, *embedding_norm_, *w.hidden);
  for (const Layer& layer : layers_) {
    backend_.linear(*w.hidden, *layer.qkv, Epilogue::kNone, *w.qkv);
    backend_.attention(*w.qkv, config_.num_heads, *w.context);
    backend_.linear_residual_norm(*w.context, *layer.attention_out, *layer.attention_norm, *w.hidden);
    backend_.linear(*w.hidden, *layer.intermediate, Epilogue::kGelu, *w.intermediate);
    backend_.linear_residual_norm(*w.intermediate, *layer.output, *layer.output_norm, *w.hidden);
  }
  backend_.gather_sequence_starts(*w.hidden, *w.first_tokens);
  return *w.first_tokens;
}

}  // namespace rerankd
