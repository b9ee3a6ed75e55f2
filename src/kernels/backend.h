#pragma once
// The interface between the model graph and the hardware. The graphs (model/encoder_model.cpp,
// model/decoder_model.cpp) hold opaque weight handles and activation matrices made by a Backend
// and call the primitive ops below; they never see a pointer, a dtype or a library call. A backend owns its weights'
// layout (prepacked, converted), its activations' memory and its threads.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tensor/batch_bounds.h"
#include "tensor/packed_batch.h"
#include "tensor/tensor_view.h"

namespace rerankd {

// Weights a backend prepared at load. Each backend defines the concrete types.
struct LinearWeights {
  virtual ~LinearWeights() = default;
  int64_t in_features = 0;
  int64_t out_features = 0;
};
struct NormWeights {
  virtual ~NormWeights() = default;
};
struct EmbeddingTables {
  virtual ~EmbeddingTables() = default;
};

// A [rows, width] matrix of activations in the backend's memory and precision. `capacity` rows
// are allocated once; ops set `rows` for the batch at hand.
struct DeviceMatrix {
  virtual ~DeviceMatrix() = default;
  int64_t capacity = 0;
  int64_t width = 0;
  int64_t rows = 0;
};

enum class Epilogue { kNone, kGelu, kTanh };

// The activation of a gated feed-forward: act(gate) * up.
enum class GatedActivation {
  kSilu,      // SwiGLU (Qwen2, Qwen3): silu(x) = x * sigmoid(x)
  kGeluTanh,  // GeGLU (Gemma): gelu with the tanh approximation, torch's gelu(approximate="tanh")
};

// A decoder's attention: q_heads query heads and kv_heads key/value heads (grouped-query: query
// head h reads key/value head h / (q_heads / kv_heads)), each head_dim wide; q's width
// q_heads * head_dim may differ from the hidden size. Rotary embeddings in the rotate-half
// convention (Hugging Face's Llama/Qwen/Gemma): pair i of a head is (x[i], x[i + head_dim / 2]),
// rotated by position * rope_theta^(-2i / head_dim).
struct DecoderAttentionShape {
  int64_t q_heads = 0, kv_heads = 0, head_dim = 0;
  double rope_theta = 10000;
  int64_t q_width() const { return q_heads * head_dim; }
  int64_t kv_width() const { return kv_heads * head_dim; }
};

// How the graph uses a matrix, so a backend can store it in the form its readers want.
enum class MatrixUse {
  kGeneral,      // any op may read or write it
  kLinearInput,  // written by linear() and read only by linear(): a backend may keep just the form
                 // its linear layers read (bf16, int8 with row scales) and no float32 copy
  kAttention,    // attention's input (written by linear()) or output (read by linear()): a backend
                 // whose attention works in its compute precision may keep only that form
};

// Where a linear layer sits: encoder layers run in the backend's compute precision (bf16, int8);
// the classification head stays in full precision, where a small error moves every score.
enum class LinearUse { kEncoder, kHead };

// Logits on their way to the host: wait() returns them once the pass that computed them is done.
class PendingRead {
 public:
  virtual ~PendingRead() = default;
  virtual std::vector<float> wait() = 0;  // once
};

// What a backend whose ops compute when called returns: the rows, already read.
class ReadyRead final : public PendingRead {
 public:
  explicit ReadyRead(std::vector<float> rows) : rows_(std::move(rows)) {}
  std::vector<float> wait() override { return std::move(rows_); }

 private:
  std::vector<float> rows_;
};

// The model's shape and the largest batch the caller will run, told to the backend before any
// weight is loaded.
struct ModelShape {
  int64_t hidden = 0, intermediate = 0, heads = 0, layers = 0, labels = 1;
  // A decoder's attention (DecoderAttentionShape): `heads` query heads, kv_heads key/value heads,
  // each head_dim wide. head_dim 0: an encoder, whose heads are hidden / heads wide.
  int64_t kv_heads = 0, head_dim = 0;
  int64_t vocab = 0, positions = 0, token_types = 0;  // the embedding tables' rows
  BatchBounds batch;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;       // "cpu", "cuda:0"
  virtual std::string precision() const = 0;  // "float32", "bfloat16", ...
  // The device and the code paths in use, for the start-up log and /info.
  virtual std::string describe() const = 0;
  // Host threads that compute: the CPU's workers, or 1 for a device backend (the thread that
  // drives the device).
  virtual int threads() const { return 1; }

  // Called once before the weights are loaded. Returns true when the backend wants the graph's
  // activations allocated now, for the largest batch (a device backend: one workspace, sized once),
  // rather than grown with the batches it sees.
  virtual bool prepare(const ModelShape& shape) {
    (void)shape;
    return false;
  }

  // --- weights, converted and laid out once ---------------------------------------------------
  // The Linear y = x W^T + b over the concatenation (along the output dimension) of the given
  // [out_i, in] weights and [out_i] biases; torch's layout, as stored in the checkpoint. `biases`
  // empty: a Linear without bias.
  virtual std::unique_ptr<LinearWeights> load_linear(std::span<const TensorView* const> weights,
                                                     std::span<const TensorView* const> biases, LinearUse use) = 0;
  virtual std::unique_ptr<NormWeights> load_norm(const TensorView& gamma, const TensorView& beta, double eps) = 0;
  // RMSNorm: y = x / sqrt(mean(x^2) + eps) * (offset + gamma), offset 1 for Gemma's (1 + w), else 0.
  // gamma's width is the rows' it normalises: the hidden size, or head_dim for Qwen3's per-head
  // q/k norms.
  virtual std::unique_ptr<NormWeights> load_rms_norm(const TensorView& gamma, double eps, float offset) = 0;
  // A decoder's token table [V, H] alone; each row looked up is multiplied by `scale` (Gemma's
  // sqrt(hidden), 1 otherwise).
  virtual std::unique_ptr<EmbeddingTables> load_token_embeddings(const TensorView& word, float scale) = 0;
  // Word [V, H], position [P, H] and token-type [T, H] tables, indexed by the batch's ids,
  // positions and token types.
  virtual std::unique_ptr<EmbeddingTables> load_embeddings(const TensorView& word, const TensorView& position,
                                                           const TensorView& token_type) = 0;

  virtual std::unique_ptr<DeviceMatrix> new_matrix(int64_t capacity, int64_t width, MatrixUse use) = 0;
  // A matrix the graph never holds live together with `dead` (made before it, and outliving it):
  // a backend may place it over their memory.
  virtual std::unique_ptr<DeviceMatrix> new_matrix_over(int64_t capacity, int64_t width, MatrixUse use,
                                                        std::span<const DeviceMatrix* const> dead) {
    (void)dead;
    return new_matrix(capacity, width, use);
  }

  // --- one forward pass ---------------------------------------------------------------------------
  // Takes the batch's ids, token types and sequence bounds; every op below works on this batch
  // until the next call.
  virtual void set_batch(const PackedBatch& batch) = 0;
  // out = LayerNorm(word[id] + position[p] + token_type[type id]) for each token of the batch, p its
  // position; out.rows = tokens.
  virtual void embed(const EmbeddingTables& tables, const NormWeights& norm, DeviceMatrix& out) = 0;
  // out = epilogue(in W^T + b)
  virtual void linear(const DeviceMatrix& in, const LinearWeights& weights, Epilogue epilogue, DeviceMatrix& out) = 0;
  // inout = LayerNorm(inout + in W^T + b): a sublayer's output projection, the residual connection
  // and the norm after it, one op so a backend can fuse them.
  virtual void linear_residual_norm(const DeviceMatrix& in, const LinearWeights& weights, const NormWeights& norm,
                                    DeviceMatrix& inout) = 0;
  // Multi-head self-attention within each sequence of the batch. qkv rows are [q | k | v], each
  // `num_heads` heads wide; out gets the heads' contexts side by side.
  virtual void attention(const DeviceMatrix& qkv, int64_t num_heads, DeviceMatrix& out) = 0;
  // out row i = in row seq_starts[i] (the <s> token each sequence starts with).
  virtual void gather_sequence_starts(const DeviceMatrix& in, DeviceMatrix& out) = 0;

  // --- a decoder's ops (model/decoder_model.cpp) ----------------------------------------------------
  // out = word[id] * scale for each token of the batch; out.rows = tokens.
  virtual void embed_tokens(const EmbeddingTables& tables, DeviceMatrix& out) = 0;
  // out = RMSNorm(in), row by row; out.rows = in.rows.
  virtual void rms_norm(const DeviceMatrix& in, const NormWeights& norm, DeviceMatrix& out) = 0;
  // inout += in W^T + b: a pre-norm sublayer's output projection and its residual connection.
  virtual void linear_residual(const DeviceMatrix& in, const LinearWeights& weights, DeviceMatrix& inout) = 0;
  // out = act(gate) * up, where gate_up's rows are [gate | up], each out.width wide.
  virtual void gated_activation(const DeviceMatrix& gate_up, GatedActivation activation, DeviceMatrix& out) = 0;
  // Prepares queries and keys in place: qkv rows are [q | k | v] (shape.q_width(), kv_width(),
  // kv_width()). Each head of q and k is RMS-normalised by q_norm / k_norm when given (Qwen3), then
  // rotated by its token's position (the batch's positions).
  virtual void rotate_queries_keys(DeviceMatrix& qkv, const DecoderAttentionShape& shape, const NormWeights* q_norm,
                                   const NormWeights* k_norm) = 0;
  // Causal self-attention within each sequence of the batch (token t sees tokens up to t of its own
  // sequence), softmax(q k^T / sqrt(head_dim)) v, with qkv as rotate_queries_keys left it; out
  // gets the query heads' contexts side by side (shape.q_width() wide).
  virtual void causal_attention(const DeviceMatrix& qkv, const DecoderAttentionShape& shape, DeviceMatrix& out) = 0;
  // out row i = in row seq_starts[i + 1] - 1 (each sequence's last token, where a decoder's
  // prediction of the next token is read).
  virtual void gather_sequence_ends(const DeviceMatrix& in, DeviceMatrix& out) = 0;
  // Copies in's rows to the host as float32, row-major.
  virtual void read(const DeviceMatrix& in, std::span<float> out) = 0;

  // --- passes in flight -----------------------------------------------------------------------------
  // Passes the caller may have begun and not yet collected: a backend that computes each op as it is
  // called has finished a pass when its last op returns (1); a device backend queues the ops, and
  // with pass_slots() sets of inputs lets the next pass be queued while one runs.
  virtual int pass_slots() const { return 1; }
  // The first `count` floats of in's rows, row-major, as read() gives them, once the ops queued so
  // far are done; the caller may set the next batch and queue its ops before waiting. Reads are
  // waited for in the order they were asked, at most pass_slots() outstanding.
  virtual std::unique_ptr<PendingRead> read_async(const DeviceMatrix& in, size_t count) {
    std::vector<float> rows(count);
    read(in, rows);
    return std::make_unique<ReadyRead>(std::move(rows));
  }
};

}  // namespace rerankd
