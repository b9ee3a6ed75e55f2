#include "kernels/cuda/cuda_plan.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "common/error.h"

namespace rerankd::cuda {

const char* precision_name(CudaPrecision precision) {
  switch (precision) {
    case CudaPrecision::kFloat32: return "float32";
    case CudaPrecision::kFloat16: return "float16";
    case CudaPrecision::kBFloat16: return "bfloat16";
  }
  return "float32";
}

int element_bytes(CudaPrecision precision) { return precision == CudaPrecision::kFloat32 ? 4 : 2; }

PrecisionChoice choose_precision(const std::string& dtype) {
  if (dtype == "auto") {
    return {CudaPrecision::kFloat16,
            "auto: float16 on CUDA (tensor cores at the bfloat16 rate, 3 more mantissa bits; the residual stream, "
            "LayerNorms, softmax and the classification head stay float32)",
            ""};
  }
  if (dtype == "float16") return {CudaPrecision::kFloat16, "requested", ""};
  if (dtype == "bfloat16") return {CudaPrecision::kBFloat16, "requested", ""};
  if (dtype == "float32") return {CudaPrecision::kFloat32, "requested (no TF32: full float32 matmuls)", ""};
  if (dtype == "int8") {
    throw Error(Error::Kind::kInvalidInput,
                "dtype 'int8' runs on the CPU only; on a CUDA device use auto, float16, bfloat16 or float32");
  }
  throw Error(Error::Kind::kInvalidInput,
              "dtype '" + dtype + "' is not one of auto, float32, float16, bfloat16 (CUDA)");
}

CudaOptions cuda_options(const char* overlap, const char* exact_gelu) {
  return {.overlap = overlap == nullptr || std::strcmp(overlap, "0") != 0,
          .exact_gelu = exact_gelu != nullptr && std::strcmp(exact_gelu, "1") == 0};
}

}  // namespace rerankd::cuda

namespace rerankd::cuda {

int64_t align_up(int64_t bytes, int64_t alignment) { return (bytes + alignment - 1) / alignment * alignment; }

int32_t padded_keys(int32_t length) {
  const int32_t step = length <= kQueryChunk ? kBucketStep : kQueryChunk;
  return static_cast<int32_t>(align_up(std::max(length, 1), step));
}

int32_t query_rows(int32_t padded) { return std::min(padded, kQueryChunk); }

ItemScratch item_scratch(int32_t keys, int32_t queries, int64_t head_dim, int element_bytes) {
  ItemScratch s;
  const int64_t cells = int64_t{keys} * queries;
  s.scores = 0;
  s.probabilities = align_up(cells * 4, kScratchAlign);
  s.context = s.probabilities + align_up(cells * element_bytes, kScratchAlign);
  s.bytes = s.context + align_up(int64_t{queries} * head_dim * element_bytes, kScratchAlign);
  return s;
}

AttentionPlan plan_attention(std::span<const int32_t> seq_starts, int64_t heads, int64_t head_dim, int element_bytes,
                             int64_t scratch_bytes) {
  AttentionPlan plan;
  // Sequences by bucket, in batch order within each; buckets shortest first.
  std::map<int32_t, std::vector<size_t>> buckets;
  for (size_t s = 0; s + 1 < seq_starts.size(); ++s) {
    const int32_t length = seq_starts[s + 1] - seq_starts[s];
    if (length <= 0) throw Error(Error::Kind::kInternal, "attention plan: an empty sequence");
    buckets[padded_keys(length)].push_back(s);
  }
  for (const auto& [keys, sequences] : buckets) {
    const int32_t queries = query_rows(keys);
    const ItemScratch scratch = item_scratch(keys, queries, head_dim, element_bytes);
    if (scratch.bytes > scratch_bytes) {
      throw Error(Error::Kind::kInternal, "attention plan: one item of " + std::to_string(keys) + " keys needs " +
                                              std::to_string(scratch.bytes) + " bytes of scratch; the workspace has " +
                                              std::to_string(scratch_bytes));
    }
    // At most 65535 items a group: the kernels' grid.y.
    const int64_t per_group = std::min<int64_t>(scratch_bytes / scratch.bytes, 65535);
    plan.longest_padded = std::max<int64_t>(plan.longest_padded, keys);
    auto open_group = [&] {
      plan.groups.push_back({keys, queries, static_cast<int64_t>(plan.items.size()), 0, scratch});
    };
    open_group();
    for (const size_t s : sequences) {
      const int32_t start = seq_starts[s], length = seq_starts[s + 1] - start;
      for (int32_t query0 = 0; query0 < length; query0 += queries) {
        for (int64_t h = 0; h < heads; ++h) {
          if (plan.groups.back().count == per_group) open_group();
          plan.items.push_back({start, length, static_cast<int32_t>(h), query0});
          ++plan.groups.back().count;
        }
      }
    }
  }
  return plan;
}

int64_t allocated_rows(int64_t capacity) { return capacity + kQueryChunk; }

MatrixForms matrix_forms(Role role, CudaPrecision precision) {
  if (precision == CudaPrecision::kFloat32) return {false, true};  // one float32 copy, read by every op
  return {role == Role::kGeneral, true};
}

int64_t matrix_bytes(int64_t rows, int64_t width, Role role, CudaPrecision precision) {
  const MatrixForms forms = matrix_forms(role, precision);
  int64_t bytes = 0;
  if (forms.f32) bytes += align_up(rows * width * 4, kScratchAlign);
  if (forms.narrow) bytes += align_up(rows * width * element_bytes(precision), kScratchAlign);
  return bytes;
}

PassInputLayout pass_input_layout(int64_t tokens, int64_t sequences, int64_t items) {
  PassInputLayout l;
  int64_t at = 0;
  auto take = [&](int64_t bytes) {
    const int64_t offset = at;
    at += align_up(bytes, kScratchAlign);
    return offset;
  };
  l.ids = take(tokens * 4);
  l.positions = take(tokens * 4);
  l.types = take(tokens * 4);
  l.seq_starts = take((sequences + 1) * 4);
  l.items = take(items * static_cast<int64_t>(sizeof(AttentionItem)));
  l.pointers = take(items * kPointerArrays * static_cast<int64_t>(sizeof(void*)));
  l.bytes = at;
  return l;
}

namespace {

// A decoder's activations per model/decoder_model.cpp (plan_workspace's comment); its attention
// kernel reads qkv in place, so there is no scratch and no item table.
void plan_decoder(const ModelDims& d, CudaPrecision precision, WorkspacePlan& p) {
  const int64_t T = p.token_rows, S = p.sequence_rows, H = d.hidden, D = d.head_dim;
  const int64_t attention = matrix_bytes(T, (d.heads + 2 * d.kv_heads) * D, Role::kNarrowOnly, precision) +
                            matrix_bytes(T, d.heads * D, Role::kNarrowOnly, precision);
  const int64_t ffn = matrix_bytes(T, 2 * d.intermediate, Role::kNarrowOnly, precision) +
                      matrix_bytes(T, d.intermediate, Role::kNarrowOnly, precision);
  p.activation_bytes = matrix_bytes(T, H, Role::kGeneral, precision) + matrix_bytes(T, H, Role::kNarrowOnly, precision) +
                       std::max(attention, ffn) + 2 * matrix_bytes(S, H, Role::kGeneral, precision) +
                       matrix_bytes(S, d.labels, Role::kGeneral, precision);
  p.attention_scratch_bytes = 0;
  p.max_items = 0;
}

}  // namespace

WorkspacePlan plan_workspace(const ModelDims& d, const BatchBounds& limits, CudaPrecision precision) {
  if (d.hidden <= 0 || d.heads <= 0 || limits.max_tokens <= 0 || limits.max_sequences <= 0 ||
      limits.max_sequence_length <= 0 || (!d.decoder() && d.hidden % d.heads != 0) ||
      (d.decoder() && (d.kv_heads <= 0 || d.heads % d.kv_heads != 0 || d.intermediate <= 0))) {
    throw Error(Error::Kind::kInternal, "workspace plan: a dimension or limit is not positive");
  }
  WorkspacePlan p;
  const int64_t max_tokens = std::max(limits.max_tokens, limits.max_sequence_length);
  p.max_tokens = max_tokens;
  p.max_sequences = std::min(limits.max_sequences, max_tokens);
  p.token_rows = allocated_rows(p.max_tokens);
  p.sequence_rows = allocated_rows(p.max_sequences);
  if (d.decoder()) {
    plan_decoder(d, precision, p);
    p.pass_input_bytes = pass_input_layout(p.token_rows, p.sequence_rows, p.max_items).bytes;
    p.slot_logits_bytes = align_up(p.sequence_rows * std::max<int64_t>(d.labels, 1) * 4, kScratchAlign);
    p.total_bytes = p.activation_bytes + kCublasWorkspaceBytes + kPassSlots * (p.pass_input_bytes + p.slot_logits_bytes);
    return p;
  }
  const int64_t T = p.token_rows, S = p.sequence_rows, H = d.hidden;
  // The graph's matrices (model/encoder_stack.cpp): hidden, qkv, context, intermediate per token;
  // first tokens, pooled and logits per sequence. The intermediate lies over qkv + context.
  const int64_t attention = matrix_bytes(T, 3 * H, Role::kNarrowOnly, precision) +
                            matrix_bytes(T, H, Role::kNarrowOnly, precision);
  p.activation_bytes = matrix_bytes(T, H, Role::kGeneral, precision) +
                       std::max(attention, matrix_bytes(T, d.intermediate, Role::kNarrowOnly, precision)) +
                       2 * matrix_bytes(S, H, Role::kGeneral, precision) +
                       matrix_bytes(S, d.labels, Role::kGeneral, precision);
  // Attention scratch: room for at least one item of the longest bucket, and for a good share of
  // a full pass's items (fewer, bigger batched calls) within a bound that keeps memory small.
  const int64_t head_dim = H / d.heads;
  const int32_t longest = padded_keys(static_cast<int32_t>(std::min<int64_t>(limits.max_sequence_length, 1 << 30)));
  const int64_t one_item = item_scratch(longest, query_rows(longest), head_dim, element_bytes(precision)).bytes;
  const int64_t share = std::clamp<int64_t>(max_tokens * d.heads * 1024, int64_t{8} << 20, int64_t{64} << 20);
  p.attention_scratch_bytes = std::max(one_item, share);
  // Items: heads per query chunk, and a sequence has at most 1 + length / kQueryChunk chunks.
  p.max_items = d.heads * (p.max_sequences + (max_tokens + kQueryChunk - 1) / kQueryChunk);
  p.pass_input_bytes = pass_input_layout(T, S, p.max_items).bytes;
  p.slot_logits_bytes = align_up(S * std::max<int64_t>(d.labels, 1) * 4, kScratchAlign);
  p.total_bytes = p.activation_bytes + p.attention_scratch_bytes + kCublasWorkspaceBytes +
                  kPassSlots * (p.pass_input_bytes + p.slot_logits_bytes);
  return p;
}

RotaryFrequencies rotary_frequencies(int64_t head_dim, double rope_theta) {
  if (head_dim <= 0 || head_dim % 2 != 0 || head_dim > kMaxHeadDim) {
    throw Error(Error::Kind::kModelFormat, "head_dim " + std::to_string(head_dim) +
                                               ": the CUDA backend takes an even head_dim of at most " +
                                               std::to_string(kMaxHeadDim));
  }
  if (!(rope_theta > 0)) throw Error(Error::Kind::kModelFormat, "rope_theta must be positive");
  RotaryFrequencies f;
  const float theta = static_cast<float>(rope_theta);
  for (int64_t i = 0; i < head_dim / 2; ++i) {
    const float exponent = static_cast<float>(2 * i) / static_cast<float>(head_dim);
    const auto power = static_cast<float>(std::pow(static_cast<double>(theta), static_cast<double>(exponent)));
    f.inv_freq[i] = 1.f / power;
  }
  return f;
}

int64_t planned_weight_bytes(const WeightDims& d, CudaPrecision precision) {
  const int64_t narrow = element_bytes(precision), H = d.hidden, I = d.intermediate;
  if (d.head_dim > 0) {
    // A decoder: fused q|k|v, o, fused gate|up and down without biases, two RMSNorms a layer (and
    // Qwen3's per-head q/k norms), the token table, the final norm and a float32 head.
    const int64_t q = d.heads * d.head_dim, kv = d.kv_heads * d.head_dim;
    const int64_t layer = ((q + 2 * kv) * H + H * q + 2 * I * H + H * I) * narrow + (2 * H + 2 * d.head_dim) * 4;
    return d.vocab * H * narrow + d.layers * layer + H * 4 + (d.labels * H + d.labels) * 4;
  }
  // An encoder linear: [out, in] narrow, its bias float32 and (narrow precisions) narrow too.
  const int64_t bias_bytes = precision == CudaPrecision::kFloat32 ? 4 : 4 + narrow;
  auto encoder_linear = [&](int64_t out, int64_t in) { return out * in * narrow + out * bias_bytes; };
  const int64_t norm = 2 * H * 4;
  const int64_t layer = encoder_linear(3 * H, H) + encoder_linear(H, H) + encoder_linear(I, H) +
                        encoder_linear(H, I) + 2 * norm;
  const int64_t embeddings = d.vocab * H * narrow + (d.positions + d.token_types) * H * 4 + norm;
  const int64_t head = (H * H + H) * 4 + (d.labels * H + d.labels) * 4;
  return embeddings + d.layers * layer + head;
}

MemoryPlan plan_memory(const WeightDims& w, int64_t heads, const BatchBounds& limits, CudaPrecision precision) {
  MemoryPlan m;
  m.weight_bytes = planned_weight_bytes(w, precision);
  m.workspace_bytes =
      plan_workspace({w.hidden, w.intermediate, heads, w.labels, w.kv_heads, w.head_dim}, limits, precision).total_bytes;
  m.total_bytes = m.weight_bytes + m.workspace_bytes;
  return m;
}

std::string no_algorithm_message(int64_t tokens, int64_t in_features, int64_t out_features, const char* in_type,
                                 const char* out_type, std::span<const HeuristicAttempt> attempts) {
  std::string m = "cuBLASLt offers no algorithm for a " + std::to_string(tokens) + " x " + std::to_string(in_features) +
                  " x " + std::to_string(out_features) + " matmul (" + in_type + " in, " + out_type + " out)";
  for (size_t i = 0; i < attempts.size(); ++i) {
    const HeuristicAttempt& a = attempts[i];
    m += (i == 0 ? ": " : "; ") + std::string("epilogue ") + a.epilogue + ": " + a.status;
    if (std::strcmp(a.status, "CUBLAS_STATUS_SUCCESS") == 0) m += " with " + std::to_string(a.found) + " algorithms";
  }
  return m;
}

}  // namespace rerankd::cuda
