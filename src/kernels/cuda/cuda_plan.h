#pragma once
// The CUDA backend's pure host logic, compiled into every build (with or without CUDA) so that the
// CPU test suite checks it: which precision a --dtype names on a CUDA device, how attention over a
// packed batch is cut into batched matmuls, and how big the one workspace is.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kernels/cuda/cuda_types.h"
#include "tensor/batch_bounds.h"

namespace rerankd::cuda {

const char* precision_name(CudaPrecision precision);
// Bytes of one element of the narrow (matmul input) form: 4 for float32, 2 otherwise.
int element_bytes(CudaPrecision precision);

struct PrecisionChoice {
  CudaPrecision precision = CudaPrecision::kFloat16;
  std::string reason;
  std::string warning;
};

// dtype: auto (float16) | float32 | float16 | bfloat16. int8 is refused (a CPU scheme). Throws
// Error (kInvalidInput).
PrecisionChoice choose_precision(const std::string& dtype);

// The backend's switches for measuring what a choice costs, read from the environment once by the
// factory (kernels/backend_factory.cpp) and handed to the backend.
struct CudaOptions {
  bool overlap = true;      // RERANKD_CUDA_OVERLAP=0: one pass at a time, to measure what the overlap gains
  bool exact_gelu = false;  // RERANKD_CUDA_EXACT_GELU=1: erf GELU by our kernel rather than cuBLASLt's tanh form
};
// From the two variables' values, null where unset: only "0" and "1" respectively switch.
CudaOptions cuda_options(const char* overlap, const char* exact_gelu);

}  // namespace rerankd::cuda

// ---------------------------------------------------------------------------------------------
// Attention over packed variable-length sequences, as batched matmuls by length bucket.
//
// A sequence of L tokens is computed with its keys padded to `padded_keys(L)` (a multiple of 64
// up to 512 tokens, of 512 beyond), so that sequences of similar length share one batched matmul.
// The padded keys are masked in the softmax; their rows (the next sequence's, or the workspace's
// slack rows past the last one) are read but weigh nothing. Queries go in chunks of at most 512, so
// one unit of work (an "item": a sequence, a head, a query chunk) needs at most 512 x padded keys
// scores. Items of one bucket run as one group of batched calls as far as the scratch allows.
namespace rerankd::cuda {

constexpr int32_t kBucketStep = 64;     // key padding up to kQueryChunk tokens
constexpr int32_t kQueryChunk = 512;    // queries per item, and the key padding past it
constexpr int64_t kScratchAlign = 256;  // byte alignment of each item's scratch regions

int32_t padded_keys(int32_t length);
int32_t query_rows(int32_t padded);  // queries per item of that bucket: min(padded, kQueryChunk)
int64_t align_up(int64_t bytes, int64_t alignment);

ItemScratch item_scratch(int32_t keys, int32_t queries, int64_t head_dim, int element_bytes);

// Items [first, first + count) of the plan, all of one bucket, run by one batched call per matmul.
struct AttentionGroup {
  int32_t keys = 0;     // padded key count of the bucket
  int32_t queries = 0;  // queries per item
  int64_t first = 0, count = 0;
  ItemScratch scratch;
};

struct AttentionPlan {
  std::vector<AttentionItem> items;
  std::vector<AttentionGroup> groups;
  int64_t longest_padded = 0;  // the rows past a sequence's start that the bucket's matmuls read
};

// Throws Error(kInternal) if one item of some bucket does not fit `scratch_bytes`.
AttentionPlan plan_attention(std::span<const int32_t> seq_starts, int64_t heads, int64_t head_dim, int element_bytes,
                             int64_t scratch_bytes);

// ---------------------------------------------------------------------------------------------
// The workspace: every activation of the largest batch, the attention scratch, cuBLASLt's
// workspace and two sets of per-pass inputs and logits (so the next pass's ids go in while one
// runs, and the last pass's logits leave), sized once at load from the model's shape and the
// batch limits. The feed-forward's intermediate matrix lies over the attention's qkv and context
// (the graph never holds them live together: Backend::new_matrix_over).

// kv_heads and head_dim: a decoder's (head_dim 0: an encoder, heads of hidden / heads).
struct ModelDims {
  int64_t hidden = 0, intermediate = 0, heads = 0, labels = 1;
  int64_t kv_heads = 0, head_dim = 0;
  bool decoder() const { return head_dim > 0; }
};

// Where the graph's activation of `rows` x `width` keeps its forms: a float32 copy where ops read
// or write float32 (the residual stream, the head), the compute precision's where matmuls read it.
struct MatrixForms {
  bool f32 = false, narrow = false;  // in float32 precision `narrow` is the float32 copy itself
};
enum class Role { kGeneral, kNarrowOnly };
MatrixForms matrix_forms(Role role, CudaPrecision precision);
int64_t matrix_bytes(int64_t rows, int64_t width, Role role, CudaPrecision precision);

constexpr int64_t kCublasWorkspaceBytes = int64_t{32} << 20;
constexpr int kPassSlots = 2;

// Rows a matrix of `capacity` rows gets: padded keys and query chunks read up to kQueryChunk - 1
// rows past the last sequence's end, which must exist (and hold finite values: they are zeroed).
int64_t allocated_rows(int64_t capacity);

struct WorkspacePlan {
  int64_t max_tokens = 0, max_sequences = 0;  // the largest pass
  int64_t token_rows = 0;      // allocated_rows(max_tokens)
  int64_t sequence_rows = 0;   // allocated_rows(max_sequences)
  int64_t activation_bytes = 0;
  int64_t attention_scratch_bytes = 0;
  int64_t max_items = 0;       // attention items a pass can have: bounds the per-pass item table
  int64_t pass_input_bytes = 0;  // one slot: ids, positions, types, seq_starts, item table, pointer arrays
  int64_t slot_logits_bytes = 0;  // one slot: its pass's logits, float32, on their way out
  int64_t total_bytes = 0;     // activations + scratch + cuBLAS(Lt) workspace + kPassSlots slots
};

// An encoder's activations are model/encoder_stack.cpp's. A decoder's (model/decoder_model.cpp)
// are planned as: hidden [T, H] kGeneral; the normed rows [T, H] kLinearInput; qkv
// [T, (heads + 2 kv_heads) D] and context [T, heads D] kAttention; gate_up [T, 2 I] and the
// gated output [T, I] kLinearInput, both over qkv + context (new_matrix_over: the larger of the
// two pairs is planned, not both); per sequence the last rows and their norm [S, H] kGeneral and
// the logits. Its attention needs no scratch and no item table (causal_attention's kernel).
WorkspacePlan plan_workspace(const ModelDims& dims, const BatchBounds& limits, CudaPrecision precision);

// rope_theta^(-2i / head_dim) for i < head_dim / 2, as Hugging Face computes inv_freq: the
// exponent 2i / head_dim and the power in float32 (here the power rounded once from double).
// Throws Error(kModelFormat) for a head_dim that is odd, not positive or past kMaxHeadDim.
RotaryFrequencies rotary_frequencies(int64_t head_dim, double rope_theta);

// Bytes of one pass's inputs for `tokens`, `sequences` and `items` (the same layout the backend
// fills): ids, positions and token types (int32 per token), seq_starts (sequences + 1), the item table and the
// kPointerArrays pointer arrays of the two batched matmuls, each `items` long.
struct PassInputLayout {
  int64_t ids = 0, positions = 0, types = 0, seq_starts = 0, items = 0, pointers = 0;  // byte offsets
  int64_t bytes = 0;
};
PassInputLayout pass_input_layout(int64_t tokens, int64_t sequences, int64_t items);
constexpr int kPointerArrays = 6;

// ---------------------------------------------------------------------------------------------
// Device memory the backend will hold for a model: its weights as load_* uploads them (encoder
// matrices and the word table in the compute precision; biases float32, and again in the compute
// precision for the encoder's fused epilogues; LayerNorms, the position and token-type tables and
// the classification head float32) plus the workspace. The CUDA context and cuBLAS's own memory
// come on top and are not ours to plan.
// heads, kv_heads and head_dim: a decoder's (head_dim 0: an encoder; its weights then come from
// hidden and intermediate alone). A decoder's weights are planned without biases (Qwen2's q/k/v
// biases are a few KB a layer), its token table in the compute precision, its head float32.
struct WeightDims {
  int64_t hidden = 0, intermediate = 0, layers = 0, labels = 1;
  int64_t vocab = 0, positions = 0, token_types = 1;
  int64_t heads = 0, kv_heads = 0, head_dim = 0;
};
int64_t planned_weight_bytes(const WeightDims& dims, CudaPrecision precision);

struct MemoryPlan {
  int64_t weight_bytes = 0, workspace_bytes = 0, total_bytes = 0;
};
MemoryPlan plan_memory(const WeightDims& weights, int64_t heads, const BatchBounds& limits,
                       CudaPrecision precision);

// ---------------------------------------------------------------------------------------------
// cuBLASLt's algorithm search (cuda_matmul.cpp) tries the fused epilogue, then none. When neither
// gives an algorithm, the error names what each attempt returned: a layout mistake or an invalid
// value reads differently from a shape that no kernel covers.
struct HeuristicAttempt {
  const char* epilogue = "";  // "bias", "bias + GELU", "none"
  const char* status = "";    // cublasGetStatusName of the heuristic's status
  int found = 0;              // algorithms offered
};
std::string no_algorithm_message(int64_t tokens, int64_t in_features, int64_t out_features, const char* in_type,
                                 const char* out_type, std::span<const HeuristicAttempt> attempts);

}  // namespace rerankd::cuda
