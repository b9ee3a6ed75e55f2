#include "kernels/cpu/cpu_backend.h"

#include <omp.h>

#include <cstring>
#include <string>

#include "common/error.h"
#include "kernels/cpu/cpu_isa.h"
#include "kernels/cpu/cpu_matrix.h"
#include "kernels/cpu/cpu_topology.h"
#include "kernels/cpu/norm_kernels.h"

namespace rerankd::cpu {
namespace {

struct CpuNorm final : NormWeights {
  std::vector<float> gamma, beta;
  float eps = 0;
};

struct CpuEmbeddings final : EmbeddingTables {
  // The word table is used in place from the memory map, in the dtype it is stored in, and its
  // rows widened as a batch reads them (embed_rows): widening it at load would make a float16
  // checkpoint's 0.5 GB table (bge-m3) a resident 1 GB of floats, and a batch reads a few hundred
  // rows. Only the rows batches read are resident. The small tables are widened once.
  const std::byte* word = nullptr;
  DType word_dtype = DType::kF32;
  std::vector<float> position, token_type;
  int64_t vocab = 0, positions = 0, types = 0;
};

LayerNormParams as_params(const NormWeights& n) {
  const auto& norm = static_cast<const CpuNorm&>(n);
  return {norm.gamma.data(), norm.beta.data(), norm.eps};
}

}  // namespace

CpuBackend::CpuBackend(CpuPrecision precision, int threads)
    : precision_(precision),
      threads_(threads > 0 ? threads : physical_cores()),
      engine_(dnnl::engine::kind::cpu, 0),
      stream_(engine_),
      linears_(engine_, stream_),
      bf16_linears_(engine_, stream_, dnnl::memory::data_type::bf16),
      int8_linears_(engine_, stream_),
      // Attention stays float32 in every precision: it is ~4% of the FLOPs at 256 tokens, and bf16
      // Q/K/probabilities measured only ~3% faster end to end while doubling the bf16 score error.
      attention_(engine_),
      causal_attention_(engine_) {
  // One thread per physical core for oneDNN and our kernels alike; nothing else computes.
  omp_set_num_threads(threads_);
}

std::string CpuBackend::describe() const {
  std::string d = "cpu, " + std::to_string(threads_) + " threads; oneDNN " + cpu_isa_name() + ", own kernels " +
                  kernel_isa_name(kernel_isa()) + " (capped by ONEDNN_MAX_CPU_ISA where set)";
  if (precision_ == CpuPrecision::kInt8) d += "; int8 matmul: " + int8_linears_.kernel_name();
  return d;
}

std::unique_ptr<LinearWeights> CpuBackend::load_linear(std::span<const TensorView* const> weights,
                                                       std::span<const TensorView* const> biases, LinearUse use) {
  const StackedWeights stacked = stack_weights(weights, biases);
  // The layer is read only from the copy packed below from now on (the backend owns its weights'
  // layout): the checkpoint's pages that loading touched leave the resident set, or a float32
  // model would be resident twice, once packed and once as the file (3.4 GB for bge-m3's 2.27).
  for (const TensorView* w : weights) release_pages(*w);
  for (const TensorView* b : biases) release_pages(*b);
  // The classification head is two small matmuls on one token per pair: float32 always, so the
  // narrow paths' error stays in the encoder.
  if (use == LinearUse::kEncoder && precision_ == CpuPrecision::kInt8) return int8_linears_.pack(stacked);
  if (use == LinearUse::kEncoder && precision_ == CpuPrecision::kBFloat16) return bf16_linears_.pack(stacked);
  return linears_.pack(stacked);
}

std::unique_ptr<NormWeights> CpuBackend::load_norm(const TensorView& gamma, const TensorView& beta, double eps) {
  auto norm = std::make_unique<CpuNorm>();
  norm->gamma = to_f32(gamma);
  norm->beta = to_f32(beta);
  release_pages(gamma);
  release_pages(beta);
  norm->eps = static_cast<float>(eps);
  return norm;
}

std::unique_ptr<EmbeddingTables> CpuBackend::load_embeddings(const TensorView& word, const TensorView& position,
                                                             const TensorView& token_type) {
  auto tables = std::make_unique<CpuEmbeddings>();
  tables->word = word.data;
  tables->word_dtype = word.dtype;
  // The finiteness check read every page of the table; a batch reads only its tokens' rows, which
  // fault back in when it does. (bge-m3's table is 250002 x 1024: 1 GB in float32.)
  release_pages(word);
  tables->vocab = word.shape.at(0);
  tables->positions = position.shape.at(0);
  tables->position = to_f32(position);
  tables->types = token_type.shape.at(0);
  tables->token_type = to_f32(token_type);
  release_pages(position);
  release_pages(token_type);
  return tables;
}

std::unique_ptr<DeviceMatrix> CpuBackend::new_matrix(int64_t capacity, int64_t width, MatrixUse use) {
  const NarrowForm narrow = precision_ == CpuPrecision::kBFloat16 ? NarrowForm::kBFloat16
                            : precision_ == CpuPrecision::kInt8   ? NarrowForm::kInt8
                                                                  : NarrowForm::kNone;
  // The CPU's attention reads and writes float32: only kLinearInput may go without it.
  return std::make_unique<CpuMatrix>(capacity, width, narrow,
                                     use != MatrixUse::kLinearInput || narrow == NarrowForm::kNone);
}

void CpuBackend::set_batch(const PackedBatch& batch) {
  // OpenMP's thread count is a per-thread setting: the thread that runs the forward passes (the
  // scheduler's compute thread), not the one that built the backend, must make it. Cheap to repeat.
  omp_set_num_threads(threads_);
  batch_ = &batch;
}

void CpuBackend::embed(const EmbeddingTables& tables_base, const NormWeights& norm_base, DeviceMatrix& out) {
  const auto& tables = static_cast<const CpuEmbeddings&>(tables_base);
  const int64_t tokens = static_cast<int64_t>(batch_->num_tokens());
  if (tokens > out.capacity) throw Error(Error::Kind::kInternal, "embed: batch larger than the workspace");

  const bool typed = !batch_->type_ids.empty();
  if ((typed && batch_->type_ids.size() != batch_->ids.size()) || batch_->positions.size() != batch_->ids.size()) {
    throw Error(Error::Kind::kInternal, "embed: type ids or positions and ids differ in number");
  }
  const std::vector<int32_t>& positions = batch_->positions;
  for (int64_t t = 0; t < tokens; ++t) {
    const int32_t id = batch_->ids[static_cast<size_t>(t)];
    const int32_t type = typed ? batch_->type_ids[static_cast<size_t>(t)] : 0;
    if (id < 0 || id >= tables.vocab || positions[static_cast<size_t>(t)] < 0 ||
        positions[static_cast<size_t>(t)] >= tables.positions || type < 0 ||
        type >= tables.types) {
      throw Error(Error::Kind::kInternal, "token id, type or position outside the model's tables");
    }
  }
  // The rows past `tokens` up to the matmuls' rounding keep what they held (finite), in both forms.
  const int64_t rows = round_rows(tokens);
  const CpuMatrix::Both both = as_cpu(out).write_both(rows);
  embed_rows(batch_->ids.data(), positions.data(), typed ? batch_->type_ids.data() : nullptr, tokens, out.width,
             tables.word, tables.word_dtype, tables.position.data(), tables.token_type.data(), as_params(norm_base),
             both.floats, both.narrow);
  for (int64_t r = tokens; r < rows; ++r) both.narrow.write_row(both.floats + r * out.width, r, out.width);
  out.rows = tokens;
}

void CpuBackend::linear(const DeviceMatrix& in, const LinearWeights& weights, Epilogue epilogue, DeviceMatrix& out) {
  static_cast<const CpuLinear&>(weights).forward(as_cpu(in), round_rows(in.rows), epilogue, as_cpu(out));
  out.rows = in.rows;
}

void CpuBackend::linear_residual_norm(const DeviceMatrix& in, const LinearWeights& weights, const NormWeights& norm,
                                      DeviceMatrix& inout) {
  // The rounding rows past `rows` are normalised too, so the residual adds the matmuls make into
  // them stay bounded across layers and batches.
  static_cast<const CpuLinear&>(weights).forward_residual_norm(as_cpu(in), round_rows(in.rows), as_params(norm),
                                                               as_cpu(inout));
}

void CpuBackend::attention(const DeviceMatrix& qkv, int64_t num_heads, DeviceMatrix& out) {
  attention_.run(as_cpu(qkv).floats(), batch_->seq_starts, out.width, num_heads, threads_, as_cpu(out).write_floats());
  out.rows = qkv.rows;
}

void CpuBackend::gather_sequence_starts(const DeviceMatrix& in, DeviceMatrix& out) {
  const auto sequences = static_cast<int64_t>(batch_->num_sequences());
  const float* hidden = as_cpu(in).floats();
  float* first = as_cpu(out).write_floats();
  for (int64_t s = 0; s < sequences; ++s) {
    std::memcpy(first + s * out.width, hidden + batch_->seq_starts[s] * in.width,
                static_cast<size_t>(in.width) * sizeof(float));
  }
  out.rows = sequences;
}

void CpuBackend::read(const DeviceMatrix& in, std::span<float> out) {
  std::memcpy(out.data(), as_cpu(in).floats(), std::min(out.size(), static_cast<size_t>(in.rows * in.width)) * sizeof(float));
}

}  // namespace rerankd::cpu
