#include "kernels/cuda/cuda_backend.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "kernels/cuda/cuda_check.h"

namespace rerankd::cuda {
namespace {

std::string mib(int64_t bytes) { return std::to_string((bytes + (1 << 19)) >> 20) + " MiB"; }

}  // namespace

bool device_available(int index) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return false;
  }
  if (index < 0 || index >= count) return false;
  cudaDeviceProp p{};
  return cudaGetDeviceProperties(&p, index) == cudaSuccess && p.major >= 8;
}

CudaBackend::CudaBackend(int device, CudaPrecision precision, CudaOptions options)
    : device_(device), precision_(precision), narrow_(element_type(precision)), options_(options),
      exact_gelu_(precision == CudaPrecision::kFloat32 || options.exact_gelu) {
  int count = 0;
  if (const cudaError_t status = cudaGetDeviceCount(&count); status != cudaSuccess || count == 0) {
    cudaGetLastError();
    throw Error(Error::Kind::kUnavailable,
                "no CUDA device: " + std::string(status == cudaSuccess ? "the driver reports none"
                                                                        : cudaGetErrorString(status)) +
                    " (asked for cuda:" + std::to_string(device) + "); use the cpu device");
  }
  if (device < 0 || device >= count) {
    throw Error(Error::Kind::kInvalidInput, "device 'cuda:" + std::to_string(device) + "': this machine has " +
                                                std::to_string(count) + " CUDA device(s), cuda:0.." +
                                                std::to_string(count - 1));
  }
  check(cudaSetDevice(device_), "cudaSetDevice");
  check(cudaGetDeviceProperties(&properties_, device_), "cudaGetDeviceProperties");
  if (properties_.major < 8) {
    throw Error(Error::Kind::kUnavailable, std::string("no CUDA device this build runs on: ") + properties_.name +
                                               " has compute capability " + std::to_string(properties_.major) + "." +
                                               std::to_string(properties_.minor) +
                                               "; rerankd's CUDA backend is built for 8.0 and later");
  }
  for (cudaStream_t* s : {&streams_.compute, &streams_.copy_in, &streams_.copy_out}) {
    check(cudaStreamCreateWithFlags(s, cudaStreamNonBlocking), "cudaStreamCreate");
  }
  check(cublasCreate(&cublas_), "cublasCreate");
  check(cublasSetStream(cublas_, streams_.compute), "cublasSetStream");
  // Default math: float32 GEMMs stay float32 (no TF32), which the float32 parity promise needs.
  // Split-K partial sums are reduced in the float32 accumulator, never in a float16 output (the
  // attention's context sums up to 8192 keys).
  check(cublasSetMathMode(cublas_, static_cast<cublasMath_t>(CUBLAS_DEFAULT_MATH |
                                                            CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)),
        "cublasSetMathMode");
  weights_ = std::make_unique<WeightLoader>(precision_, streams_.compute);
  workspace_ = std::make_unique<Workspace>(precision_, streams_.compute);
  nonfinite_ = DeviceBuffer(sizeof(int));
}

CudaBackend::~CudaBackend() {
  cudaSetDevice(device_);
  for (cudaStream_t s : {streams_.compute, streams_.copy_in, streams_.copy_out}) {
    if (s != nullptr) cudaStreamSynchronize(s);
  }
  slots_.reset();
  matmul_.reset();
  if (cublas_ != nullptr) cublasDestroy(cublas_);
  for (cudaStream_t s : {streams_.compute, streams_.copy_in, streams_.copy_out}) {
    if (s != nullptr) cudaStreamDestroy(s);
  }
}

std::string CudaBackend::describe() const {
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  auto version = [](int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); };
  std::string d = name() + " " + properties_.name + " (compute " + std::to_string(properties_.major) + "." +
                  std::to_string(properties_.minor) + ", " + std::to_string(properties_.multiProcessorCount) +
                  " SMs, " + mib(static_cast<int64_t>(properties_.totalGlobalMem)) + "), CUDA runtime " +
                  version(runtime) + ", driver " + version(driver) + "; cuBLASLt matmuls in " +
                  precision_name(precision_) + " with float32 accumulation, fused bias" +
                  (exact_gelu_ ? " (erf GELU by our kernel)" : "/GELU (tanh form)") +
                  " epilogues; attention: " +
                  (decoder() ? std::string("causal, our kernel (online softmax, grouped-query); float32 residual "
                                           "stream, RMSNorm and head")
                             : std::string("batched cuBLAS per length bucket + masked softmax; float32 residual "
                                           "stream, LayerNorm and head"));
  d += "; weights " + mib(weights_->bytes()) + ", workspace " + mib(workspace_->bytes()) + " for " +
       std::to_string(plan_.max_tokens) + " tokens / " + std::to_string(plan_.max_sequences) + " pairs (planned " +
       mib(planned_.total_bytes) + ": weights " + mib(planned_.weight_bytes) + " + workspace " +
       mib(planned_.workspace_bytes) + ")";
  d += options_.overlap ? "; 2 passes in flight (the next one's inputs go in while one runs)"
                        : "; one pass at a time (RERANKD_CUDA_OVERLAP=0)";
  if (matmul_ != nullptr && matmul_->fallbacks() > 0) {
    d += "; " + std::to_string(matmul_->fallbacks()) + " matmul shapes without a fused epilogue";
  }
  return d;
}

bool CudaBackend::prepare(const ModelShape& shape) {
  check(cudaSetDevice(device_), "cudaSetDevice");
  shape_ = shape;
  const BatchBounds& limits = shape.batch;
  if (decoder() && shape.head_dim > kMaxHeadDim) {
    throw Error(Error::Kind::kModelFormat, "head_dim " + std::to_string(shape.head_dim) +
                                               ": the CUDA backend's attention takes at most " +
                                               std::to_string(kMaxHeadDim));
  }
  plan_ = plan_workspace({shape.hidden, shape.intermediate, shape.heads, shape.labels, shape.kv_heads, shape.head_dim},
                         limits, precision_);
  planned_ = plan_memory({.hidden = shape.hidden, .intermediate = shape.intermediate, .layers = shape.layers,
                          .labels = shape.labels, .vocab = shape.vocab, .positions = shape.positions,
                          .token_types = shape.token_types, .heads = shape.heads, .kv_heads = shape.kv_heads,
                          .head_dim = shape.head_dim},
                         shape.heads, limits, precision_);
  spdlog::info("CUDA memory plan: weights {} + workspace {} = {} for {} tokens / {} pairs a pass",
               mib(planned_.weight_bytes), mib(planned_.workspace_bytes), mib(planned_.total_bytes), limits.max_tokens,
               limits.max_sequences);
  layout_ = pass_input_layout(plan_.token_rows, plan_.sequence_rows, plan_.max_items);
  workspace_->allocate(plan_.total_bytes);
  attention_scratch_ = workspace_->take(plan_.attention_scratch_bytes);
  void* cublas_workspace = workspace_->take(kCublasWorkspaceBytes);
  check(cublasSetWorkspace(cublas_, cublas_workspace, static_cast<size_t>(kCublasWorkspaceBytes)),
        "cublasSetWorkspace");
  matmul_ = std::make_unique<LtMatmul>(cublas_workspace, kCublasWorkspaceBytes);
  slots_ = std::make_unique<PassSlotRing>(plan_, layout_, shape.labels, *workspace_, streams_);
  return true;  // the bounds are always known (BatchBounds): the workspace is sized once, now
}

std::unique_ptr<LinearWeights> CudaBackend::load_linear(std::span<const TensorView* const> weights,
                                                        std::span<const TensorView* const> biases, LinearUse use) {
  return weights_->load_linear(weights, biases, use);
}

std::unique_ptr<NormWeights> CudaBackend::load_norm(const TensorView& gamma, const TensorView& beta, double eps) {
  return weights_->load_norm(gamma, beta, eps);
}

std::unique_ptr<EmbeddingTables> CudaBackend::load_embeddings(const TensorView& word, const TensorView& position,
                                                              const TensorView& token_type) {
  auto tables = weights_->load_embeddings(word, position, token_type);
  tables_ = tables->bounds;
  return tables;
}

std::unique_ptr<DeviceMatrix> CudaBackend::new_matrix(int64_t capacity, int64_t width, MatrixUse use) {
  check(cudaSetDevice(device_), "cudaSetDevice");
  return workspace_->new_matrix(capacity, width, use);
}

std::unique_ptr<DeviceMatrix> CudaBackend::new_matrix_over(int64_t capacity, int64_t width, MatrixUse use,
                                                           std::span<const DeviceMatrix* const> dead) {
  check(cudaSetDevice(device_), "cudaSetDevice");
  return workspace_->new_matrix_over(capacity, width, use, dead);
}

void CudaBackend::check_launch(const char* what) { check(cudaGetLastError(), what); }

void CudaBackend::set_batch(const PackedBatch& batch) {
  check(cudaSetDevice(device_), "cudaSetDevice");  // the worker thread, not the one that loaded
  if (slots_ == nullptr) throw Error(Error::Kind::kInternal, "CUDA backend: a pass before prepare()");
  weights_->release_staging();
  // A decoder's attention reads seq_starts alone: no plan of items (heads 0).
  slots_->begin(batch, tables_,
                {decoder() ? 0 : shape_.heads, decoder() ? shape_.head_dim : shape_.hidden / shape_.heads,
                 element_size(narrow_)});
  pointers_ready_ = false;
}

void CudaBackend::embed(const EmbeddingTables& tables_base, const NormWeights& norm, DeviceMatrix& out_base) {
  const auto& tables = static_cast<const CudaEmbeddings&>(tables_base);
  CudaMatrix& out = as_cuda(out_base);
  const int64_t tokens = slots_->pass().tokens;
  if (tokens > out.capacity) throw Error(Error::Kind::kInternal, "embed: batch larger than the workspace");
  const char* inputs = slots_->device();
  launch_embed_layernorm(reinterpret_cast<const int32_t*>(inputs + layout_.ids),
                         reinterpret_cast<const int32_t*>(inputs + layout_.positions),
                         reinterpret_cast<const int32_t*>(inputs + layout_.types), tokens, out.width,
                         tables.word.get(), tables.word_type, static_cast<const float*>(tables.position.get()),
                         static_cast<const float*>(tables.token_type.get()),
                         static_cast<const CudaNorm&>(norm).params(), out.f32,
                         out.narrow == out.f32 ? nullptr : out.narrow, narrow_, streams_.compute);
  check_launch("embedding + LayerNorm kernel");
  out.rows = tokens;
}

void CudaBackend::linear(const DeviceMatrix& in_base, const LinearWeights& weights, Epilogue epilogue,
                         DeviceMatrix& out_base) {
  const CudaMatrix& in = as_cuda(in_base);
  CudaMatrix& out = as_cuda(out_base);
  const auto& w = static_cast<const CudaLinear&>(weights);
  out.rows = in.rows;
  if (w.head) {
    // The head: a few rows, float32 throughout, by our kernel (cuBLASLt has no tanh epilogue).
    if (in.f32 == nullptr || out.f32 == nullptr) throw Error(Error::Kind::kInternal, "head linear without float32 forms");
    const Activation act = epilogue == Epilogue::kTanh   ? Activation::kTanh
                           : epilogue == Epilogue::kGelu ? Activation::kGeluErf
                                                         : Activation::kNone;
    launch_small_linear(in.f32, in.rows, w.in_features, static_cast<const float*>(w.weight.get()),
                        static_cast<const float*>(w.bias_f32.get()), w.out_features, act, out.f32, streams_.compute);
    check_launch("head linear kernel");
    return;
  }
  const void* bias = narrow_ == ElementType::kFloat32 ? w.bias_f32.get() : w.bias_narrow.get();
  const bool fused_gelu = epilogue == Epilogue::kGelu && !exact_gelu_;
  matmul_->run({.weight = w.weight.get(), .input = in.narrow, .output = out.narrow, .bias = bias, .tokens = in.rows,
                .in_features = w.in_features, .out_features = w.out_features, .in_type = narrow_, .out_type = narrow_,
                .gelu = fused_gelu, .accumulate = false},
               streams_.compute);
  if (epilogue == Epilogue::kTanh || (epilogue == Epilogue::kGelu && !fused_gelu)) {
    launch_bias_activation(out.narrow, narrow_, in.rows, w.out_features, nullptr,
                           epilogue == Epilogue::kTanh ? Activation::kTanh : Activation::kGeluErf, streams_.compute);
    check_launch("activation kernel");
  }
  if (out.f32 != nullptr && static_cast<void*>(out.f32) != out.narrow) {
    // A general matrix written by an encoder linear in a narrow precision: its float32 form too.
    launch_convert(out.narrow, narrow_, out.f32, ElementType::kFloat32, in.rows * w.out_features,
                   static_cast<int*>(nonfinite_.get()), streams_.compute);
    check_launch("convert kernel");
  }
}

void CudaBackend::linear_residual_norm(const DeviceMatrix& in_base, const LinearWeights& weights,
                                       const NormWeights& norm, DeviceMatrix& inout_base) {
  const CudaMatrix& in = as_cuda(in_base);
  CudaMatrix& inout = as_cuda(inout_base);
  const auto& w = static_cast<const CudaLinear&>(weights);
  if (inout.f32 == nullptr) throw Error(Error::Kind::kInternal, "residual without a float32 form");
  // inout (float32) += in W^T + b inside the matmul (beta = 1, in place), then LayerNorm in place,
  // writing the next matmul's input form as it goes.
  matmul_->run({.weight = w.weight.get(), .input = in.narrow, .output = inout.f32, .bias = w.bias_f32.get(),
                .tokens = in.rows, .in_features = w.in_features, .out_features = w.out_features, .in_type = narrow_,
                .out_type = ElementType::kFloat32, .gelu = false, .accumulate = true},
               streams_.compute);
  launch_layernorm(inout.f32, in.rows, inout.width, static_cast<const CudaNorm&>(norm).params(),
                   inout.narrow == static_cast<void*>(inout.f32) ? nullptr : inout.narrow, narrow_, streams_.compute);
  check_launch("LayerNorm kernel");
}

void CudaBackend::upload_attention_pointers(const CudaMatrix& qkv) {
  // The batched matmuls' operands, per item: the same every layer (the workspace does not move).
  const AttentionPlan& plan = slots_->pass().attention;
  const int64_t H = qkv.width / 3, D = H / shape_.heads, element = element_size(narrow_);
  auto** host_pointers = reinterpret_cast<const void**>(slots_->host() + layout_.pointers);
  const char* base = static_cast<const char*>(qkv.narrow);
  char* scratch = static_cast<char*>(attention_scratch_);
  for (const AttentionGroup& g : plan.groups) {
    for (int64_t k = 0; k < g.count; ++k) {
      const int64_t i = g.first + k;
      const AttentionItem& item = plan.items[static_cast<size_t>(i)];
      const int64_t head = int64_t{item.head} * D;
      char* slot = scratch + k * g.scratch.bytes;
      host_pointers[0 * plan_.max_items + i] = base + (int64_t{item.seq_start} * 3 * H + H + head) * element;  // K
      host_pointers[1 * plan_.max_items + i] =
          base + ((int64_t{item.seq_start} + item.query0) * 3 * H + head) * element;                       // Q
      host_pointers[2 * plan_.max_items + i] = slot + g.scratch.scores;                                   // scores
      host_pointers[3 * plan_.max_items + i] = base + (int64_t{item.seq_start} * 3 * H + 2 * H + head) * element;  // V
      host_pointers[4 * plan_.max_items + i] = slot + g.scratch.probabilities;                            // P
      host_pointers[5 * plan_.max_items + i] = slot + g.scratch.context;                                  // context
    }
  }
  const auto items = static_cast<int64_t>(plan.items.size());
  auto** device_pointers = reinterpret_cast<const void**>(slots_->device() + layout_.pointers);
  for (int a = 0; a < kPointerArrays; ++a) {
    check(cudaMemcpyAsync(device_pointers + a * plan_.max_items, host_pointers + a * plan_.max_items,
                          static_cast<size_t>(items) * sizeof(void*), cudaMemcpyHostToDevice, streams_.compute),
          "cudaMemcpyAsync (attention pointers)");
  }
  pointers_ready_ = true;
}

void CudaBackend::attention(const DeviceMatrix& qkv_base, int64_t num_heads, DeviceMatrix& out_base) {
  const CudaMatrix& qkv = as_cuda(qkv_base);
  CudaMatrix& out = as_cuda(out_base);
  const int64_t H = out.width, D = H / num_heads;
  if (num_heads != shape_.heads) throw Error(Error::Kind::kInternal, "attention: heads differ from the plan");
  if (!pointers_ready_) upload_attention_pointers(qkv);
  const AttentionPlan& plan = slots_->pass().attention;
  auto** device_pointers = reinterpret_cast<void**>(slots_->device() + layout_.pointers);
  const cudaDataType_t type = cuda_type(narrow_);
  const float scale = 1.f / std::sqrt(static_cast<float>(D)), one = 1.f, zero = 0.f;
  const auto* device_items = reinterpret_cast<const AttentionItem*>(slots_->device() + layout_.items);
  for (const AttentionGroup& g : plan.groups) {
    if (g.count == 0) continue;
    auto array = [&](int a) { return device_pointers + a * plan_.max_items + g.first; };
    const int ld_qkv = static_cast<int>(3 * H);
    // scores (keys x queries, column-major; row-major [query][key]) = K^T Q / sqrt(D), float32.
    check(cublasGemmBatchedEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, g.keys, g.queries, static_cast<int>(D), &scale,
                              array(0), type, ld_qkv, array(1), type, ld_qkv, &zero,
                              array(2), CUDA_R_32F, g.keys, static_cast<int>(g.count),
                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          "cublasGemmBatchedEx (scores)");
    launch_masked_softmax(device_items + g.first, g.count, g.keys, g.queries, attention_scratch_, g.scratch, narrow_,
                          streams_.compute);
    check_launch("masked softmax kernel");
    // context (D x queries, column-major) = V P.
    check(cublasGemmBatchedEx(cublas_, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(D), g.queries, g.keys, &one,
                              array(3), type, ld_qkv, array(4), type, g.keys, &zero,
                              array(5), type, static_cast<int>(D),
                              static_cast<int>(g.count), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          "cublasGemmBatchedEx (context)");
    launch_scatter_context(device_items + g.first, g.count, g.queries, D, attention_scratch_, g.scratch, out.narrow,
                           H, narrow_, streams_.compute);
    check_launch("context scatter kernel");
  }
  out.rows = qkv.rows;
}

void CudaBackend::gather_sequence_starts(const DeviceMatrix& in_base, DeviceMatrix& out_base) {
  const CudaMatrix& in = as_cuda(in_base);
  CudaMatrix& out = as_cuda(out_base);
  if (in.f32 == nullptr || out.f32 == nullptr) throw Error(Error::Kind::kInternal, "gather without float32 forms");
  const int64_t sequences = slots_->pass().sequences;
  launch_gather_rows(in.f32, reinterpret_cast<const int32_t*>(slots_->device() + layout_.seq_starts), sequences,
                     in.width, out.f32, streams_.compute);
  check_launch("gather kernel");
  out.rows = sequences;
}

void CudaBackend::read(const DeviceMatrix& in, std::span<float> out) {
  const std::vector<float> rows = read_async(in, out.size())->wait();
  std::copy(rows.begin(), rows.end(), out.begin());
}

std::unique_ptr<PendingRead> CudaBackend::read_async(const DeviceMatrix& in_base, size_t count) {
  const CudaMatrix& in = as_cuda(in_base);
  if (in.f32 == nullptr) throw Error(Error::Kind::kInternal, "read without a float32 form");
  if (slots_ == nullptr) throw Error(Error::Kind::kInternal, "CUDA backend: a read before any batch");
  return slots_->read(in.f32, std::min(count, static_cast<size_t>(in.rows * in.width)));
}

}  // namespace rerankd::cuda
