// CpuBackend's decoder ops (Backend's "a decoder's ops"): the RMSNorms, the gated activation,
// rotary queries and keys and causal attention run in float32 in every precision, like the
// encoder's LayerNorms and attention; the linear layers are the encoder's (cpu_linear.h).
//
// Which form each op leaves, for the graph's order (model/decoder_model.cpp): the residual stream
// (embed_tokens, linear_residual) holds float32 only, its narrow form stale, since an RMSNorm
// reads it next; rms_norm and gated_activation write the narrow form of every row a linear layer
// reads next (the float32 values too where the matrix keeps them); rotate_queries_keys and
// causal_attention write float32, and a narrow reader converts (CpuMatrix does, on its read).
//
// Rows past the batch's tokens up to round_rows (which the matmuls read) are computed like the
// others; embed_tokens zeroes them each pass, so the residual adds into them stay bounded.
#include <algorithm>
#include <cstring>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "common/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/cpu_matrix.h"
#include "kernels/cpu/decoder_row_kernels.h"
#include "kernels/cpu/multiversion.h"

namespace rerankd::cpu {
namespace {

struct CpuRmsNorm final : NormWeights {
  std::vector<float> weight;  // offset + gamma
  float eps = 0;
  RmsNormParams params() const { return {weight.data(), eps}; }
};

struct CpuTokenEmbeddings final : EmbeddingTables {
  // Used in place from the memory map in its stored dtype, each row widened as a batch reads it
  // (as the encoder's word table: cpu_backend.cpp): Qwen3's table is 151669 x 1024, 0.6 GB in
  // float32, of which a batch reads a few hundred rows.
  const std::byte* word = nullptr;
  DType dtype = DType::kF32;
  int64_t vocab = 0, width = 0;
  float scale = 1;
};

const CpuRmsNorm& as_rms(const NormWeights& norm) {
  const auto* rms = dynamic_cast<const CpuRmsNorm*>(&norm);
  if (rms == nullptr) throw Error(Error::Kind::kInternal, "a decoder op was given a LayerNorm's weights");
  return *rms;
}

void check(bool condition, const char* what) {
  if (!condition) throw Error(Error::Kind::kInternal, what);
}

RERANKD_KERNEL_BODY void scale_row_body(float* x, int64_t n, float scale) {
  for (int64_t i = 0; i < n; ++i) x[i] *= scale;
}
RERANKD_MULTIVERSION(void, scale_row, (float* x, int64_t n, float scale), (x, n, scale))

}  // namespace

std::unique_ptr<NormWeights> CpuBackend::load_rms_norm(const TensorView& gamma, double eps, float offset) {
  auto norm = std::make_unique<CpuRmsNorm>();
  norm->weight = to_f32(gamma);
  release_pages(gamma);
  for (float& w : norm->weight) w += offset;  // float32, as Gemma's (1.0 + weight.float())
  norm->eps = static_cast<float>(eps);
  return norm;
}

std::unique_ptr<EmbeddingTables> CpuBackend::load_token_embeddings(const TensorView& word, float scale) {
  check(word.shape.size() == 2, "load_token_embeddings: the table must be [vocab, hidden]");
  auto tables = std::make_unique<CpuTokenEmbeddings>();
  tables->word = word.data;
  tables->dtype = word.dtype;
  tables->vocab = word.shape[0];
  tables->width = word.shape[1];
  tables->scale = scale;
  // The finiteness check read every page; a batch's rows fault back in when it reads them.
  release_pages(word);
  return tables;
}

void CpuBackend::embed_tokens(const EmbeddingTables& tables_base, DeviceMatrix& out) {
  const auto& tables = dynamic_cast<const CpuTokenEmbeddings&>(tables_base);
  const auto tokens = static_cast<int64_t>(batch_->num_tokens());
  check(out.width == tables.width, "embed_tokens: the matrix and the table differ in width");
  check(round_rows(tokens) <= out.capacity, "embed_tokens: batch larger than the workspace");
  for (const int32_t id : batch_->ids) {
    if (id < 0 || id >= tables.vocab) throw Error(Error::Kind::kInternal, "token id outside the model's table");
  }
  const int64_t width = out.width;
  const size_t row_bytes = static_cast<size_t>(width) * dtype_size(tables.dtype);
  float* y = as_cpu(out).write_floats();
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < tokens; ++t) {
    float* row = y + t * width;
    widen_to_f32(tables.dtype, tables.word + static_cast<size_t>(batch_->ids[static_cast<size_t>(t)]) * row_bytes,
                 std::span<float>(row, static_cast<size_t>(width)));
    if (tables.scale != 1.f) scale_row(row, width, tables.scale);
  }
  std::memset(y + tokens * width, 0, static_cast<size_t>((round_rows(tokens) - tokens) * width) * sizeof(float));
  out.rows = tokens;
}

void CpuBackend::rms_norm(const DeviceMatrix& in, const NormWeights& norm_base, DeviceMatrix& out) {
  const CpuRmsNorm& norm = as_rms(norm_base);
  check(in.width == out.width && static_cast<int64_t>(norm.weight.size()) == in.width,
        "rms_norm: widths differ");
  const int64_t rows = round_rows(in.rows);
  check(rows <= out.capacity, "rms_norm: more rows than the output holds");
  const float* x = as_cpu(in).floats();
  CpuMatrix& y = as_cpu(out);
  if (y.keeps_floats()) {
    const CpuMatrix::Both both = y.write_both(rows);
    rms_norm_rows(x, rows, in.width, norm.params(), both.floats, both.narrow);
  } else {
    rms_norm_rows(x, rows, in.width, norm.params(), nullptr, y.write_narrow(rows));
  }
  out.rows = in.rows;
}

void CpuBackend::linear_residual(const DeviceMatrix& in, const LinearWeights& weights, DeviceMatrix& inout) {
  check(in.width == weights.in_features && inout.width == weights.out_features && in.rows == inout.rows,
        "linear_residual: shapes differ");
  static_cast<const CpuLinear&>(weights).forward_residual(as_cpu(in), round_rows(in.rows), as_cpu(inout));
}

void CpuBackend::gated_activation(const DeviceMatrix& gate_up, GatedActivation activation, DeviceMatrix& out) {
  check(gate_up.width == 2 * out.width, "gated_activation: gate_up must be twice the output's width");
  const int64_t rows = round_rows(gate_up.rows);
  check(rows <= out.capacity, "gated_activation: more rows than the output holds");
  const float* x = as_cpu(gate_up).floats();
  CpuMatrix& y = as_cpu(out);
  if (y.keeps_floats()) {
    const CpuMatrix::Both both = y.write_both(rows);
    gated_activation_rows(x, rows, out.width, activation, both.floats, both.narrow);
  } else {
    gated_activation_rows(x, rows, out.width, activation, nullptr, y.write_narrow(rows));
  }
  out.rows = gate_up.rows;
}

void CpuBackend::rotate_queries_keys(DeviceMatrix& qkv, const DecoderAttentionShape& shape, const NormWeights* q_norm,
                                     const NormWeights* k_norm) {
  check(shape.head_dim > 0 && shape.head_dim % 2 == 0, "rotate_queries_keys: head_dim must be even");
  check(qkv.width == shape.q_width() + 2 * shape.kv_width(), "rotate_queries_keys: qkv's width is not q | k | v");
  check(qkv.rows == static_cast<int64_t>(batch_->num_tokens()) && batch_->positions.size() == batch_->ids.size(),
        "rotate_queries_keys: the matrix and the batch differ in tokens");
  RmsNormParams q_params{}, k_params{};
  for (const auto& [norm, params] : {std::pair{q_norm, &q_params}, std::pair{k_norm, &k_params}}) {
    if (norm == nullptr) continue;
    const CpuRmsNorm& rms = as_rms(*norm);
    check(static_cast<int64_t>(rms.weight.size()) == shape.head_dim, "rotate_queries_keys: a head norm's width");
    *params = rms.params();
  }
  int32_t last = 0;
  for (const int32_t p : batch_->positions) {
    if (p < 0) throw Error(Error::Kind::kInternal, "rotate_queries_keys: a negative position");
    last = std::max(last, p);
  }
  const float* table = rotary_.table(shape.rope_theta, shape.head_dim, static_cast<int64_t>(last) + 1);
  CpuMatrix& m = as_cpu(qkv);
  m.floats();  // rotated in place: they must be current
  rotate_queries_keys_rows(m.write_floats(), qkv.rows, batch_->positions.data(), shape, table,
                           q_norm != nullptr ? &q_params : nullptr, k_norm != nullptr ? &k_params : nullptr);
}

void CpuBackend::causal_attention(const DeviceMatrix& qkv, const DecoderAttentionShape& shape, DeviceMatrix& out) {
  check(qkv.width == shape.q_width() + 2 * shape.kv_width() && out.width == shape.q_width(),
        "causal_attention: widths differ from the attention's shape");
  check(qkv.rows == static_cast<int64_t>(batch_->num_tokens()) && qkv.rows <= out.capacity,
        "causal_attention: the matrix and the batch differ in tokens");
  causal_attention_.run(as_cpu(qkv).floats(), batch_->seq_starts, shape, threads_, as_cpu(out).write_floats());
  out.rows = qkv.rows;
}

void CpuBackend::gather_sequence_ends(const DeviceMatrix& in, DeviceMatrix& out) {
  const auto sequences = static_cast<int64_t>(batch_->num_sequences());
  check(in.width == out.width && sequences <= out.capacity, "gather_sequence_ends: shapes differ");
  const float* hidden = as_cpu(in).floats();
  float* last = as_cpu(out).write_floats();
  for (int64_t s = 0; s < sequences; ++s) {
    const int64_t end = batch_->seq_starts[static_cast<size_t>(s) + 1];
    check(end > batch_->seq_starts[static_cast<size_t>(s)], "gather_sequence_ends: an empty sequence");
    std::memcpy(last + s * out.width, hidden + (end - 1) * in.width, static_cast<size_t>(in.width) * sizeof(float));
  }
  out.rows = sequences;
}

}  // namespace rerankd::cpu
