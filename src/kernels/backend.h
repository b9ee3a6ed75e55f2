#pragma once
// The interface between the model graph and the hardware. The graphs (model/xlmr_model.cpp,
// model/bert_model.cpp) hold
// opaque weight handles and activation matrices made by a Backend and calls the primitive ops
// below; it never sees a pointer, a dtype or a library call. A backend owns its weights'
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
  // [out_i, in] weights and [out_i] biases; torch's layout, as stored in the checkpoint.
  virtual std::unique_ptr<LinearWeights> load_linear(std::span<const TensorView* const> weights,
                                                     std::span<const TensorView* const> biases, LinearUse use) = 0;
  virtual std::unique_ptr<NormWeights> load_norm(const TensorView& gamma, const TensorView& beta, double eps) = 0;
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
