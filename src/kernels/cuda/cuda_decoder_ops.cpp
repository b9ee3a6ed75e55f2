// The CUDA backend's decoder ops (Backend's "a decoder's ops", model/decoder_model.cpp): the token
// lookup, RMSNorm, the residual linear, the gated activation, rotary queries and keys, causal
// attention and the last rows, on the compute stream. The residual stream and the norms are
// float32 as in the encoder; matmuls read and write the compute precision; a matrix with both
// forms gets both written, so every reader finds its form current.
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_decoder_kernels.h"

namespace rerankd::cuda {
namespace {

// The form an op reads: float32 where the matrix keeps it, else the compute precision.
struct Source {
  const void* data = nullptr;
  ElementType type = ElementType::kFloat32;
};
Source source_of(const CudaMatrix& m, ElementType narrow) {
  if (m.f32 != nullptr) return {m.f32, ElementType::kFloat32};
  return {m.narrow, narrow};
}

// The narrow form where it is a second copy (null where the float32 form is the only one).
void* second_narrow(const CudaMatrix& m) { return m.narrow == static_cast<void*>(m.f32) ? nullptr : m.narrow; }

void expect(bool ok, const char* what) {
  if (!ok) throw Error(Error::Kind::kInternal, std::string("CUDA decoder op: ") + what);
}

const CudaNorm& as_rms(const NormWeights& norm) {
  const auto& n = static_cast<const CudaNorm&>(norm);
  expect(n.rms, "a LayerNorm where an RMSNorm belongs");
  return n;
}

}  // namespace

std::unique_ptr<NormWeights> CudaBackend::load_rms_norm(const TensorView& gamma, double eps, float offset) {
  return weights_->load_rms_norm(gamma, eps, offset);
}

std::unique_ptr<EmbeddingTables> CudaBackend::load_token_embeddings(const TensorView& word, float scale) {
  auto tables = weights_->load_token_embeddings(word, scale);
  tables_ = tables->bounds;
  return tables;
}

void CudaBackend::refresh_narrow(CudaMatrix& m) {
  if (void* narrow = second_narrow(m); narrow != nullptr && m.f32 != nullptr) {
    launch_convert(m.f32, ElementType::kFloat32, narrow, narrow_, m.rows * m.width, static_cast<int*>(nonfinite_.get()),
                   streams_.compute);
    check_launch("convert kernel");
  }
}

const RotaryFrequencies& CudaBackend::rotary(const DecoderAttentionShape& shape) {
  if (rotary_dim_ != shape.head_dim || rotary_theta_ != shape.rope_theta) {
    rotary_ = rotary_frequencies(shape.head_dim, shape.rope_theta);
    rotary_dim_ = shape.head_dim;
    rotary_theta_ = shape.rope_theta;
  }
  return rotary_;
}

void CudaBackend::embed_tokens(const EmbeddingTables& tables_base, DeviceMatrix& out_base) {
  const auto& tables = static_cast<const CudaEmbeddings&>(tables_base);
  CudaMatrix& out = as_cuda(out_base);
  const int64_t tokens = slots_->pass().tokens;
  expect(tokens <= out.capacity, "embed_tokens: batch larger than the workspace");
  const char* inputs = slots_->device();
  launch_embed_tokens(reinterpret_cast<const int32_t*>(inputs + layout_.ids), tokens, out.width, tables.word.get(),
                      tables.word_type, tables.scale, out.f32, second_narrow(out), narrow_, streams_.compute);
  check_launch("token embedding kernel");
  out.rows = tokens;
}

void CudaBackend::rms_norm(const DeviceMatrix& in_base, const NormWeights& norm_base, DeviceMatrix& out_base) {
  const CudaMatrix& in = as_cuda(in_base);
  CudaMatrix& out = as_cuda(out_base);
  const CudaNorm& norm = as_rms(norm_base);
  expect(norm.width == in.width && out.width == in.width, "rms_norm: widths differ");
  expect(in.rows <= out.capacity, "rms_norm: more rows than the output holds");
  const Source src = source_of(in, narrow_);
  launch_rms_norm(src.data, src.type, in.rows, in.width, norm.rms_params(), out.f32, second_narrow(out), narrow_,
                  streams_.compute);
  check_launch("RMSNorm kernel");
  out.rows = in.rows;
}

void CudaBackend::linear_residual(const DeviceMatrix& in_base, const LinearWeights& weights, DeviceMatrix& inout_base) {
  const CudaMatrix& in = as_cuda(in_base);
  CudaMatrix& inout = as_cuda(inout_base);
  const auto& w = static_cast<const CudaLinear&>(weights);
  expect(!w.head, "linear_residual: a head linear");
  expect(inout.f32 != nullptr, "residual without a float32 form");
  expect(in.width == w.in_features && inout.width == w.out_features && in.rows == inout.rows,
         "linear_residual: shapes differ");
  // inout (float32) += in W^T + b inside the matmul (beta = 1, in place); b float32 or none.
  matmul_->run({.weight = w.weight.get(), .input = in.narrow, .output = inout.f32, .bias = w.bias_f32.get(),
                .tokens = in.rows, .in_features = w.in_features, .out_features = w.out_features, .in_type = narrow_,
                .out_type = ElementType::kFloat32, .gelu = false, .accumulate = true},
               streams_.compute);
  refresh_narrow(inout);
}

void CudaBackend::gated_activation(const DeviceMatrix& gate_up_base, GatedActivation activation,
                                   DeviceMatrix& out_base) {
  const CudaMatrix& gate_up = as_cuda(gate_up_base);
  CudaMatrix& out = as_cuda(out_base);
  expect(gate_up.width == 2 * out.width, "gated_activation: gate_up is not [gate | up] of the output's width");
  expect(gate_up.rows <= out.capacity, "gated_activation: more rows than the output holds");
  const GatedKind kind = activation == GatedActivation::kSilu ? GatedKind::kSilu : GatedKind::kGeluTanh;
  const bool both = out.f32 != nullptr && second_narrow(out) != nullptr;
  launch_gated_activation(gate_up.narrow, gate_up.rows, out.width, kind, out.narrow, both ? out.f32 : nullptr, narrow_,
                          streams_.compute);
  check_launch("gated activation kernel");
  out.rows = gate_up.rows;
}

void CudaBackend::rotate_queries_keys(DeviceMatrix& qkv_base, const DecoderAttentionShape& shape,
                                      const NormWeights* q_norm, const NormWeights* k_norm) {
  CudaMatrix& qkv = as_cuda(qkv_base);
  expect(shape.q_heads > 0 && shape.kv_heads > 0 && shape.q_heads % shape.kv_heads == 0,
         "rotate_queries_keys: query heads are not a multiple of key/value heads");
  expect(qkv.width == shape.q_width() + 2 * shape.kv_width(), "rotate_queries_keys: qkv is not [q | k | v]");
  RotaryArgs args;
  args.tokens = qkv.rows;
  args.q_heads = static_cast<int32_t>(shape.q_heads);
  args.kv_heads = static_cast<int32_t>(shape.kv_heads);
  args.head_dim = static_cast<int32_t>(shape.head_dim);
  args.frequencies = rotary(shape);
  for (auto [given, params] : {std::pair{q_norm, &args.q_norm}, std::pair{k_norm, &args.k_norm}}) {
    if (given == nullptr) continue;
    const CudaNorm& n = as_rms(*given);
    expect(n.width == shape.head_dim, "rotate_queries_keys: a per-head norm is not head_dim wide");
    *params = n.rms_params();
  }
  const char* inputs = slots_->device();
  launch_rotate_queries_keys(qkv.narrow, reinterpret_cast<const int32_t*>(inputs + layout_.positions), args, narrow_,
                             streams_.compute);
  check_launch("rotary kernel");
  // A general matrix (never the graph's qkv, which is kAttention) keeps its float32 form too.
  if (qkv.f32 != nullptr && second_narrow(qkv) != nullptr) {
    launch_convert(qkv.narrow, narrow_, qkv.f32, ElementType::kFloat32, qkv.rows * qkv.width,
                   static_cast<int*>(nonfinite_.get()), streams_.compute);
    check_launch("convert kernel");
  }
}

void CudaBackend::causal_attention(const DeviceMatrix& qkv_base, const DecoderAttentionShape& shape,
                                   DeviceMatrix& out_base) {
  const CudaMatrix& qkv = as_cuda(qkv_base);
  CudaMatrix& out = as_cuda(out_base);
  expect(shape.q_heads > 0 && shape.kv_heads > 0 && shape.q_heads % shape.kv_heads == 0,
         "causal_attention: query heads are not a multiple of key/value heads");
  expect(shape.head_dim > 0 && shape.head_dim <= kMaxHeadDim, "causal_attention: head_dim past the kernel's");
  expect(qkv.width == shape.q_width() + 2 * shape.kv_width() && out.width == shape.q_width(),
         "causal_attention: qkv or the output has the wrong width");
  expect(qkv.rows <= out.capacity, "causal_attention: more rows than the output holds");
  const PackedPass& pass = slots_->pass();
  const CausalAttentionArgs args{.sequences = pass.sequences, .longest = pass.longest,
                                 .q_heads = static_cast<int32_t>(shape.q_heads),
                                 .kv_heads = static_cast<int32_t>(shape.kv_heads),
                                 .head_dim = static_cast<int32_t>(shape.head_dim)};
  launch_causal_attention(qkv.narrow, reinterpret_cast<const int32_t*>(slots_->device() + layout_.seq_starts), args,
                          out.narrow, narrow_, streams_.compute);
  check_launch("causal attention kernel");
  out.rows = qkv.rows;
  if (out.f32 != nullptr && second_narrow(out) != nullptr) {
    launch_convert(out.narrow, narrow_, out.f32, ElementType::kFloat32, out.rows * out.width,
                   static_cast<int*>(nonfinite_.get()), streams_.compute);
    check_launch("convert kernel");
  }
}

void CudaBackend::gather_sequence_ends(const DeviceMatrix& in_base, DeviceMatrix& out_base) {
  const CudaMatrix& in = as_cuda(in_base);
  CudaMatrix& out = as_cuda(out_base);
  expect(in.f32 != nullptr && out.f32 != nullptr, "gather without float32 forms");
  expect(in.width == out.width, "gather_sequence_ends: widths differ");
  const int64_t sequences = slots_->pass().sequences;
  expect(sequences <= out.capacity, "gather_sequence_ends: more sequences than the output holds");
  launch_gather_last_rows(in.f32, reinterpret_cast<const int32_t*>(slots_->device() + layout_.seq_starts), sequences,
                          in.width, out.f32, streams_.compute);
  check_launch("gather kernel");
  out.rows = sequences;
  refresh_narrow(out);
}

}  // namespace rerankd::cuda
