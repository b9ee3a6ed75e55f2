#include "kernels/cuda/cuda_backend.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cuda/cuda_check.h"

namespace rerankd::cuda {
namespace {

constexpr int64_t kStagingElements = int64_t{8} << 20;  // weights are converted 8M elements at a time

struct CudaMatrix final : DeviceMatrix {
  float* f32 = nullptr;   // null where the role keeps no float32 copy
  void* narrow = nullptr; // the compute precision's form (== f32 in float32)
  char* base = nullptr;   // the memory both forms lie in
  int64_t bytes = 0;
};

struct CudaLinear final : LinearWeights {
  DeviceBuffer weight;          // [out, in] row-major: compute precision (encoder) or float32 (head)
  DeviceBuffer bias_f32;        // [out] float32
  DeviceBuffer bias_narrow;     // [out] in the compute precision (encoder, narrow precisions)
  bool head = false;
};

struct CudaNorm final : NormWeights {
  DeviceBuffer gamma, beta;
  float eps = 0;
  NormParams params() const {
    return {static_cast<const float*>(gamma.get()), static_cast<const float*>(beta.get()), eps};
  }
};

struct CudaEmbeddings final : EmbeddingTables {
  DeviceBuffer word, position, token_type;
  ElementType word_type = ElementType::kFloat32;
  int64_t vocab = 0, positions = 0, types = 0;
  int32_t pad_token_id = -1;
};

CudaMatrix& as_cuda(DeviceMatrix& m) { return static_cast<CudaMatrix&>(m); }
const CudaMatrix& as_cuda(const DeviceMatrix& m) { return static_cast<const CudaMatrix&>(m); }

ElementType stored_type(DType dtype) {
  switch (dtype) {
    case DType::kF32: return ElementType::kFloat32;
    case DType::kF16: return ElementType::kFloat16;
    case DType::kBF16: return ElementType::kBFloat16;
  }
  return ElementType::kFloat32;
}

std::string mib(int64_t bytes) { return std::to_string((bytes + (1 << 19)) >> 20) + " MiB"; }

}  // namespace

// One pass's inputs: pinned on the host, and their device copy in the arena; and its logits,
// copied on the compute stream into the slot's own device buffer (so the next pass may overwrite
// the head's matrix) and from there to pinned host memory on the copy-out stream.
struct CudaBackend::Slot {
  void* host = nullptr;         // pinned, layout_.bytes
  char* device = nullptr;       // in the arena
  float* device_logits = nullptr;  // in the arena, plan_.slot_logits_bytes
  float* host_logits = nullptr; // pinned, sequence_rows x labels
  int64_t logits_capacity = 0;  // floats
  bool read_pending = false;    // a PendingRead of this slot's pass is not yet waited for
  cudaEvent_t uploaded = nullptr, done = nullptr, read_done = nullptr;

  ~Slot() {
    for (cudaEvent_t e : {uploaded, done, read_done}) {
      if (e != nullptr) cudaEventDestroy(e);
    }
    if (host != nullptr) cudaFreeHost(host);
    if (host_logits != nullptr) cudaFreeHost(host_logits);
  }
};

// The logits of one slot's pass, once the copy-out stream has them on the host.
class CudaBackend::PendingLogits final : public PendingRead {
 public:
  PendingLogits(Slot& slot, size_t count) : slot_(slot), count_(count) {}
  ~PendingLogits() override { slot_.read_pending = false; }
  std::vector<float> wait() override {
    check(cudaEventSynchronize(slot_.read_done), "the forward pass");
    slot_.read_pending = false;
    return std::vector<float>(slot_.host_logits, slot_.host_logits + count_);
  }

 private:
  Slot& slot_;
  size_t count_;
};

DeviceBuffer::DeviceBuffer(int64_t bytes) : bytes_(bytes) {
  if (bytes > 0) check(cudaMalloc(&ptr_, static_cast<size_t>(bytes)), "cudaMalloc");
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_ != nullptr) cudaFree(ptr_);
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (ptr_ != nullptr) cudaFree(ptr_);
    ptr_ = other.ptr_;
    bytes_ = other.bytes_;
    other.ptr_ = nullptr;
  }
  return *this;
}

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
                    " (asked for cuda:" + std::to_string(device) + "); use --device cpu");
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
  check(cudaStreamCreateWithFlags(&compute_, cudaStreamNonBlocking), "cudaStreamCreate");
  check(cudaStreamCreateWithFlags(&copy_in_, cudaStreamNonBlocking), "cudaStreamCreate");
  check(cudaStreamCreateWithFlags(&copy_out_, cudaStreamNonBlocking), "cudaStreamCreate");
  check(cublasCreate(&cublas_), "cublasCreate");
  check(cublasSetStream(cublas_, compute_), "cublasSetStream");
  // Default math: float32 GEMMs stay float32 (no TF32), which the float32 parity promise needs.
  // Split-K partial sums are reduced in the float32 accumulator, never in a float16 output (the
  // attention's context sums up to 8192 keys).
  check(cublasSetMathMode(cublas_, static_cast<cublasMath_t>(CUBLAS_DEFAULT_MATH |
                                                            CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)),
        "cublasSetMathMode");
  nonfinite_ = DeviceBuffer(sizeof(int));
}

CudaBackend::~CudaBackend() {
  cudaSetDevice(device_);
  if (compute_ != nullptr) cudaStreamSynchronize(compute_);
  if (copy_out_ != nullptr) cudaStreamSynchronize(copy_out_);
  slots_.clear();
  matmul_.reset();
  if (cublas_ != nullptr) cublasDestroy(cublas_);
  for (cudaStream_t s : {compute_, copy_in_, copy_out_}) {
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
                  " epilogues; attention: batched cuBLAS per length bucket + masked softmax; float32 residual "
                  "stream, LayerNorm and head";
  d += "; weights " + mib(weight_bytes_) + ", workspace " + mib(workspace_bytes_) + " for " +
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
  // Without bounds (a caller that did not say), plan for the default batch limits.
  const bool known = shape.max_tokens > 0 && shape.max_sequences > 0;
  BatchShapeLimits limits{known ? shape.max_tokens : 65536, known ? shape.max_sequences : 1024,
                          shape.max_sequence_length > 0 ? shape.max_sequence_length : 512};
  plan_ = plan_workspace({shape.hidden, shape.intermediate, shape.heads, shape.labels}, limits, precision_);
  planned_ = plan_memory({.hidden = shape.hidden, .intermediate = shape.intermediate, .layers = shape.layers,
                          .labels = shape.labels, .vocab = shape.vocab, .positions = shape.positions,
                          .token_types = shape.token_types},
                         shape.heads, limits, precision_);
  spdlog::info("CUDA memory plan: weights {} + workspace {} = {} for {} tokens / {} pairs a pass",
               mib(planned_.weight_bytes), mib(planned_.workspace_bytes), mib(planned_.total_bytes), limits.max_tokens,
               limits.max_sequences);
  layout_ = pass_input_layout(plan_.token_rows, plan_.sequence_rows, plan_.max_items);
  const int64_t bytes = known ? plan_.total_bytes : plan_.total_bytes - plan_.activation_bytes;
  arena_ = DeviceBuffer(bytes);
  // Zeroed: rows past a sequence that padded keys read must hold finite values from the start.
  check(cudaMemset(arena_.get(), 0, static_cast<size_t>(bytes)), "cudaMemset");
  workspace_bytes_ = bytes;
  attention_scratch_ = arena_take(plan_.attention_scratch_bytes);
  cublas_workspace_ = arena_take(kCublasWorkspaceBytes);
  check(cublasSetWorkspace(cublas_, cublas_workspace_, static_cast<size_t>(kCublasWorkspaceBytes)), "cublasSetWorkspace");
  matmul_ = std::make_unique<LtMatmul>(cublas_workspace_, kCublasWorkspaceBytes);
  for (int i = 0; i < kPassSlots; ++i) {
    auto slot = std::make_unique<Slot>();
    slot->device = static_cast<char*>(arena_take(layout_.bytes));
    slot->device_logits = static_cast<float*>(arena_take(plan_.slot_logits_bytes));
    slot->logits_capacity = plan_.sequence_rows * std::max<int64_t>(shape.labels, 1);
    check(cudaMallocHost(&slot->host, static_cast<size_t>(layout_.bytes)), "cudaMallocHost");
    check(cudaMallocHost(reinterpret_cast<void**>(&slot->host_logits),
                         static_cast<size_t>(plan_.sequence_rows * std::max<int64_t>(shape.labels, 1)) * sizeof(float)),
          "cudaMallocHost");
    check(cudaEventCreateWithFlags(&slot->uploaded, cudaEventDisableTiming), "cudaEventCreate");
    check(cudaEventCreateWithFlags(&slot->read_done, cudaEventDisableTiming), "cudaEventCreate");
    check(cudaEventCreateWithFlags(&slot->done, cudaEventDisableTiming), "cudaEventCreate");
    slots_.push_back(std::move(slot));
  }
  return known;
}

void* CudaBackend::arena_take(int64_t bytes) {
  const int64_t aligned = align_up(bytes, kScratchAlign);
  if (arena_used_ + aligned > arena_.bytes()) return nullptr;
  void* p = static_cast<char*>(arena_.get()) + arena_used_;
  arena_used_ += aligned;
  return p;
}

void CudaBackend::check_launch(const char* what) { check(cudaGetLastError(), what); }

void CudaBackend::upload(const TensorView& view, void* dst, ElementType type) {
  const ElementType from = stored_type(view.dtype);
  const int64_t count = view.numel();
  const int src_size = element_size(from), dst_size = element_size(type);
  if (staging_.get() == nullptr) staging_ = DeviceBuffer(kStagingElements * 4);
  check(cudaMemsetAsync(nonfinite_.get(), 0, sizeof(int), compute_), "cudaMemsetAsync");
  for (int64_t at = 0; at < count; at += kStagingElements) {
    const int64_t n = std::min(kStagingElements, count - at);
    // Synchronous: the staging buffer is reused by the next chunk (and the map is pageable).
    check(cudaStreamSynchronize(compute_), "cudaStreamSynchronize");
    check(cudaMemcpy(staging_.get(), view.data + at * src_size, static_cast<size_t>(n * src_size),
                     cudaMemcpyHostToDevice),
          "cudaMemcpy (weights)");
    launch_convert(staging_.get(), from, static_cast<char*>(dst) + at * dst_size, type, n,
                   static_cast<int*>(nonfinite_.get()), compute_);
    check_launch("convert kernel");
  }
  int nonfinite = 0;
  check(cudaMemcpyAsync(&nonfinite, nonfinite_.get(), sizeof(int), cudaMemcpyDeviceToHost, compute_), "cudaMemcpy");
  check(cudaStreamSynchronize(compute_), "cudaStreamSynchronize");
  if (nonfinite > 0) {
    throw Error(Error::Kind::kModelFormat, view.file.string() + ": tensor '" + view.name + "': " +
                                               std::to_string(nonfinite) + " values are out of " +
                                               precision_name(precision_) + "'s range; use --dtype float32");
  }
}

DeviceBuffer CudaBackend::upload_new(const TensorView& view, ElementType type) {
  DeviceBuffer buffer(view.numel() * element_size(type));
  upload(view, buffer.get(), type);
  weight_bytes_ += buffer.bytes();
  return buffer;
}

std::unique_ptr<LinearWeights> CudaBackend::load_linear(std::span<const TensorView* const> weights,
                                                        std::span<const TensorView* const> biases, LinearUse use) {
  auto linear = std::make_unique<CudaLinear>();
  linear->head = use == LinearUse::kHead;
  int64_t out = 0;
  for (const TensorView* w : weights) out += w->shape.at(0);
  const int64_t in = weights.front()->shape.at(1);
  linear->in_features = in;
  linear->out_features = out;
  const ElementType weight_type = linear->head ? ElementType::kFloat32 : narrow_;
  linear->weight = DeviceBuffer(out * in * element_size(weight_type));
  linear->bias_f32 = DeviceBuffer(out * 4);
  weight_bytes_ += linear->weight.bytes() + linear->bias_f32.bytes();
  int64_t row = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    const int64_t rows = weights[i]->shape.at(0);
    upload(*weights[i], static_cast<char*>(linear->weight.get()) + row * in * element_size(weight_type), weight_type);
    upload(*biases[i], static_cast<char*>(linear->bias_f32.get()) + row * 4, ElementType::kFloat32);
    if (!linear->head && narrow_ != ElementType::kFloat32) {
      if (linear->bias_narrow.get() == nullptr) {
        linear->bias_narrow = DeviceBuffer(out * element_size(narrow_));
        weight_bytes_ += linear->bias_narrow.bytes();
      }
      upload(*biases[i], static_cast<char*>(linear->bias_narrow.get()) + row * element_size(narrow_), narrow_);
    }
    row += rows;
  }
  return linear;
}

std::unique_ptr<NormWeights> CudaBackend::load_norm(const TensorView& gamma, const TensorView& beta, double eps) {
  auto norm = std::make_unique<CudaNorm>();
  norm->gamma = upload_new(gamma, ElementType::kFloat32);
  norm->beta = upload_new(beta, ElementType::kFloat32);
  norm->eps = static_cast<float>(eps);
  return norm;
}

std::unique_ptr<EmbeddingTables> CudaBackend::load_embeddings(const TensorView& word, const TensorView& position,
                                                              const TensorView& token_type, int32_t pad_token_id) {
  auto tables = std::make_unique<CudaEmbeddings>();
  // The word table is the largest tensor (~0.5 GB in float16 for bge-m3): in the compute
  // precision. The position table and token types are small: float32.
  tables->word_type = narrow_;
  tables->word = upload_new(word, narrow_);
  tables->position = upload_new(position, ElementType::kFloat32);
  tables->token_type = upload_new(token_type, ElementType::kFloat32);
  tables->vocab = word.shape.at(0);
  tables->positions = position.shape.at(0);
  tables->types = token_type.shape.at(0);
  tables->pad_token_id = pad_token_id;
  vocab_ = tables->vocab;
  position_rows_ = tables->positions;
  type_rows_ = tables->types;
  pad_token_id_ = pad_token_id;
  return tables;
}

std::unique_ptr<DeviceMatrix> CudaBackend::new_matrix(int64_t capacity, int64_t width, MatrixUse use) {
  check(cudaSetDevice(device_), "cudaSetDevice");
  const Role role = use == MatrixUse::kGeneral ? Role::kGeneral : Role::kNarrowOnly;
  const int64_t rows = allocated_rows(capacity);
  const int64_t bytes = matrix_bytes(rows, width, role, precision_);
  char* base = static_cast<char*>(arena_take(bytes));
  if (base == nullptr) {
    // A matrix the workspace plan did not foresee (a batch past the bounds given at load, or a
    // graph that changed): its own allocation, zeroed like the arena.
    spdlog::warn("CUDA backend: a {} x {} activation outside the planned workspace ({} more)", rows, width, mib(bytes));
    extra_.emplace_back(bytes);
    base = static_cast<char*>(extra_.back().get());
    check(cudaMemset(base, 0, static_cast<size_t>(bytes)), "cudaMemset");
    workspace_bytes_ += bytes;
  }
  return matrix_at(base, capacity, width, use);
}

std::unique_ptr<DeviceMatrix> CudaBackend::new_matrix_over(int64_t capacity, int64_t width, MatrixUse use,
                                                           std::span<const DeviceMatrix* const> dead) {
  // The dead matrices' memory, where it is one run (they were taken from the arena one after
  // another) big enough for this one.
  std::vector<const CudaMatrix*> under;
  for (const DeviceMatrix* d : dead) under.push_back(&as_cuda(*d));
  std::sort(under.begin(), under.end(), [](const CudaMatrix* a, const CudaMatrix* b) { return a->base < b->base; });
  int64_t run = 0;
  for (size_t i = 0; i < under.size(); ++i) {
    if (i > 0 && under[i - 1]->base + under[i - 1]->bytes != under[i]->base) return new_matrix(capacity, width, use);
    run += under[i]->bytes;
  }
  const Role role = use == MatrixUse::kGeneral ? Role::kGeneral : Role::kNarrowOnly;
  if (under.empty() || run < matrix_bytes(allocated_rows(capacity), width, role, precision_)) {
    return new_matrix(capacity, width, use);
  }
  return matrix_at(under.front()->base, capacity, width, use);
}

std::unique_ptr<DeviceMatrix> CudaBackend::matrix_at(char* base, int64_t capacity, int64_t width, MatrixUse use) {
  const Role role = use == MatrixUse::kGeneral ? Role::kGeneral : Role::kNarrowOnly;
  const MatrixForms forms = matrix_forms(role, precision_);
  const int64_t rows = allocated_rows(capacity);
  auto m = std::make_unique<CudaMatrix>();
  m->capacity = capacity;
  m->width = width;
  m->base = base;
  m->bytes = matrix_bytes(rows, width, role, precision_);
  if (forms.f32) {
    m->f32 = reinterpret_cast<float*>(base);
    base += align_up(rows * width * 4, kScratchAlign);
  }
  m->narrow = base;
  if (precision_ == CudaPrecision::kFloat32) m->f32 = reinterpret_cast<float*>(base);
  return m;
}

void CudaBackend::set_batch(const PackedBatch& batch) {
  check(cudaSetDevice(device_), "cudaSetDevice");  // the worker thread, not the one that loaded
  if (slots_.empty()) throw Error(Error::Kind::kInternal, "CUDA backend: a pass before prepare()");
  staging_ = DeviceBuffer();
  const auto tokens = static_cast<int64_t>(batch.num_tokens());
  const auto sequences = static_cast<int64_t>(batch.num_sequences());
  if (tokens > plan_.max_tokens || sequences > plan_.max_sequences) {
    throw Error(Error::Kind::kInvalidInput, "a pass of " + std::to_string(tokens) + " tokens in " +
                                                std::to_string(sequences) + " pairs exceeds the CUDA workspace (" +
                                                std::to_string(plan_.max_tokens) + " tokens, " +
                                                std::to_string(plan_.max_sequences) + " pairs: --max-batch-tokens, "
                                                "--max-batch-pairs)");
  }
  Slot& slot = *slots_[static_cast<size_t>(next_slot_)];
  if (slot.read_pending) {
    throw Error(Error::Kind::kInternal, "CUDA backend: more passes in flight than its " +
                                            std::to_string(kPassSlots) + " slots");
  }
  next_slot_ = (next_slot_ + 1) % kPassSlots;
  // The slot's last pass has finished with its inputs and its logits.
  check(cudaEventSynchronize(slot.done), "cudaEventSynchronize");
  check(cudaEventSynchronize(slot.read_done), "cudaEventSynchronize");

  char* host = static_cast<char*>(slot.host);
  std::memcpy(host + layout_.ids, batch.ids.data(), static_cast<size_t>(tokens) * sizeof(int32_t));
  std::memcpy(host + layout_.seq_starts, batch.seq_starts.data(), static_cast<size_t>(sequences + 1) * sizeof(int32_t));
  auto* positions = reinterpret_cast<int32_t*>(host + layout_.positions);
  // Position ids as the CPU backend counts them: each sequence's non-pad tokens from
  // pad_token_id + 1 (RoBERTa), pad tokens at pad_token_id; with -1 (BERT) simply 0, 1, 2, ...
  for (int64_t s = 0; s < sequences; ++s) {
    const int32_t start = batch.seq_starts[static_cast<size_t>(s)], end = batch.seq_starts[static_cast<size_t>(s) + 1];
    int32_t next = pad_token_id_ + 1;
    for (int32_t t = start; t < end; ++t) {
      positions[t] = batch.ids[static_cast<size_t>(t)] == pad_token_id_ ? pad_token_id_ : next++;
    }
  }
  // Token types: the batch's (BERT's 0/1), or all 0 when it has none.
  auto* types = reinterpret_cast<int32_t*>(host + layout_.types);
  const bool typed = !batch.type_ids.empty();
  if (typed && batch.type_ids.size() != batch.ids.size()) {
    throw Error(Error::Kind::kInternal, "set_batch: type ids and ids differ in number");
  }
  if (typed) std::memcpy(types, batch.type_ids.data(), static_cast<size_t>(tokens) * sizeof(int32_t));
  else std::fill(types, types + tokens, 0);
  for (int64_t t = 0; t < tokens; ++t) {
    const int32_t id = batch.ids[static_cast<size_t>(t)];
    if (id < 0 || id >= vocab_ || positions[t] < 0 || positions[t] >= position_rows_ || types[t] < 0 ||
        types[t] >= type_rows_) {
      throw Error(Error::Kind::kInternal, "token id, type or position outside the model's tables");
    }
  }

  attention_plan_ = plan_attention(batch.seq_starts, shape_.heads, shape_.hidden / shape_.heads,
                                   element_size(narrow_), plan_.attention_scratch_bytes);
  const auto items = static_cast<int64_t>(attention_plan_.items.size());
  if (items > plan_.max_items) throw Error(Error::Kind::kInternal, "attention plan: more items than planned");
  std::memcpy(host + layout_.items, attention_plan_.items.data(), static_cast<size_t>(items) * sizeof(AttentionItem));
  tokens_ = tokens;
  sequences_ = sequences;

  // Upload on the copy-in stream; the compute stream waits for it, not the host.
  auto copy = [&](int64_t offset, int64_t bytes) {
    if (bytes > 0) {
      check(cudaMemcpyAsync(slot.device + offset, host + offset, static_cast<size_t>(bytes), cudaMemcpyHostToDevice,
                            copy_in_),
            "cudaMemcpyAsync (pass inputs)");
    }
  };
  copy(layout_.ids, tokens * 4);
  copy(layout_.positions, tokens * 4);
  copy(layout_.types, tokens * 4);
  copy(layout_.seq_starts, (sequences + 1) * 4);
  copy(layout_.items, items * static_cast<int64_t>(sizeof(AttentionItem)));
  check(cudaEventRecord(slot.uploaded, copy_in_), "cudaEventRecord");
  check(cudaStreamWaitEvent(compute_, slot.uploaded, 0), "cudaStreamWaitEvent");
  current_ = &slot;
  pointers_ready_ = false;
}

void CudaBackend::embed(const EmbeddingTables& tables_base, const NormWeights& norm, DeviceMatrix& out_base) {
  const auto& tables = static_cast<const CudaEmbeddings&>(tables_base);
  CudaMatrix& out = as_cuda(out_base);
  if (tokens_ > out.capacity) throw Error(Error::Kind::kInternal, "embed: batch larger than the workspace");
  const char* inputs = current_->device;
  launch_embed_layernorm(reinterpret_cast<const int32_t*>(inputs + layout_.ids),
                         reinterpret_cast<const int32_t*>(inputs + layout_.positions),
                         reinterpret_cast<const int32_t*>(inputs + layout_.types), tokens_, out.width,
                         tables.word.get(), tables.word_type, static_cast<const float*>(tables.position.get()),
                         static_cast<const float*>(tables.token_type.get()),
                         static_cast<const CudaNorm&>(norm).params(), out.f32,
                         out.narrow == out.f32 ? nullptr : out.narrow, narrow_, compute_);
  check_launch("embedding + LayerNorm kernel");
  out.rows = tokens_;
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
                        static_cast<const float*>(w.bias_f32.get()), w.out_features, act, out.f32, compute_);
    check_launch("head linear kernel");
    return;
  }
  const void* bias = narrow_ == ElementType::kFloat32 ? w.bias_f32.get() : w.bias_narrow.get();
  const bool fused_gelu = epilogue == Epilogue::kGelu && !exact_gelu_;
  matmul_->run({.weight = w.weight.get(), .input = in.narrow, .output = out.narrow, .bias = bias, .tokens = in.rows,
                .in_features = w.in_features, .out_features = w.out_features, .in_type = narrow_, .out_type = narrow_,
                .gelu = fused_gelu, .accumulate = false},
               compute_);
  if (epilogue == Epilogue::kTanh || (epilogue == Epilogue::kGelu && !fused_gelu)) {
    launch_bias_activation(out.narrow, narrow_, in.rows, w.out_features, nullptr,
                           epilogue == Epilogue::kTanh ? Activation::kTanh : Activation::kGeluErf, compute_);
    check_launch("activation kernel");
  }
  if (out.f32 != nullptr && static_cast<void*>(out.f32) != out.narrow) {
    // A general matrix written by an encoder linear in a narrow precision: its float32 form too.
    launch_convert(out.narrow, narrow_, out.f32, ElementType::kFloat32, in.rows * w.out_features,
                   static_cast<int*>(nonfinite_.get()), compute_);
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
               compute_);
  launch_layernorm(inout.f32, in.rows, inout.width, static_cast<const CudaNorm&>(norm).params(),
                   inout.narrow == static_cast<void*>(inout.f32) ? nullptr : inout.narrow, narrow_, compute_);
  check_launch("LayerNorm kernel");
}

void CudaBackend::attention(const DeviceMatrix& qkv_base, int64_t num_heads, DeviceMatrix& out_base) {
  const CudaMatrix& qkv = as_cuda(qkv_base);
  CudaMatrix& out = as_cuda(out_base);
  const int64_t H = out.width, D = H / num_heads;
  if (num_heads != shape_.heads) throw Error(Error::Kind::kInternal, "attention: heads differ from the plan");
  const auto items = static_cast<int64_t>(attention_plan_.items.size());
  const int64_t element = element_size(narrow_);
  auto** host_pointers = reinterpret_cast<const void**>(static_cast<char*>(current_->host) + layout_.pointers);
  auto** device_pointers = reinterpret_cast<void**>(current_->device + layout_.pointers);
  if (!pointers_ready_) {
    // The batched matmuls' operands, per item: the same every layer (the workspace does not move).
    const char* base = static_cast<const char*>(qkv.narrow);
    char* scratch = static_cast<char*>(attention_scratch_);
    for (const AttentionGroup& g : attention_plan_.groups) {
      for (int64_t k = 0; k < g.count; ++k) {
        const int64_t i = g.first + k;
        const AttentionItem& item = attention_plan_.items[static_cast<size_t>(i)];
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
    for (int a = 0; a < kPointerArrays; ++a) {
      check(cudaMemcpyAsync(device_pointers + a * plan_.max_items, host_pointers + a * plan_.max_items,
                            static_cast<size_t>(items) * sizeof(void*), cudaMemcpyHostToDevice, compute_),
            "cudaMemcpyAsync (attention pointers)");
    }
    pointers_ready_ = true;
  }
  const cudaDataType_t type = cuda_type(narrow_);
  const float scale = 1.f / std::sqrt(static_cast<float>(D)), one = 1.f, zero = 0.f;
  const auto* device_items = reinterpret_cast<const AttentionItem*>(current_->device + layout_.items);
  for (const AttentionGroup& g : attention_plan_.groups) {
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
                          compute_);
    check_launch("masked softmax kernel");
    // context (D x queries, column-major) = V P.
    check(cublasGemmBatchedEx(cublas_, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(D), g.queries, g.keys, &one,
                              array(3), type, ld_qkv, array(4), type, g.keys, &zero,
                              array(5), type, static_cast<int>(D),
                              static_cast<int>(g.count), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
          "cublasGemmBatchedEx (context)");
    launch_scatter_context(device_items + g.first, g.count, g.queries, D, attention_scratch_, g.scratch, out.narrow,
                           H, narrow_, compute_);
    check_launch("context scatter kernel");
  }
  out.rows = qkv.rows;
}

void CudaBackend::gather_sequence_starts(const DeviceMatrix& in_base, DeviceMatrix& out_base) {
  const CudaMatrix& in = as_cuda(in_base);
  CudaMatrix& out = as_cuda(out_base);
  if (in.f32 == nullptr || out.f32 == nullptr) throw Error(Error::Kind::kInternal, "gather without float32 forms");
  launch_gather_rows(in.f32, reinterpret_cast<const int32_t*>(current_->device + layout_.seq_starts), sequences_,
                     in.width, out.f32, compute_);
  check_launch("gather kernel");
  out.rows = sequences_;
}

void CudaBackend::read(const DeviceMatrix& in, std::span<float> out) {
  const std::vector<float> rows = read_async(in, out.size())->wait();
  std::copy(rows.begin(), rows.end(), out.begin());
}

std::unique_ptr<PendingRead> CudaBackend::read_async(const DeviceMatrix& in_base, size_t count) {
  const CudaMatrix& in = as_cuda(in_base);
  if (in.f32 == nullptr) throw Error(Error::Kind::kInternal, "read without a float32 form");
  if (current_ == nullptr) throw Error(Error::Kind::kInternal, "CUDA backend: a read before any batch");
  Slot& slot = *current_;
  if (slot.read_pending) throw Error(Error::Kind::kInternal, "CUDA backend: a second read of one pass");
  count = std::min(count, static_cast<size_t>(in.rows * in.width));
  if (count > static_cast<size_t>(slot.logits_capacity)) {
    throw Error(Error::Kind::kInternal, "CUDA backend: a read larger than a pass's logits");
  }
  const size_t bytes = count * sizeof(float);
  // A few KB into the slot's own buffer on the compute stream, then the pass is done; the host
  // copy goes on the copy-out stream while the compute stream moves on to the next pass.
  check(cudaMemcpyAsync(slot.device_logits, in.f32, bytes, cudaMemcpyDeviceToDevice, compute_),
        "cudaMemcpyAsync (logits)");
  check(cudaEventRecord(slot.done, compute_), "cudaEventRecord");
  check(cudaStreamWaitEvent(copy_out_, slot.done, 0), "cudaStreamWaitEvent");
  check(cudaMemcpyAsync(slot.host_logits, slot.device_logits, bytes, cudaMemcpyDeviceToHost, copy_out_),
        "cudaMemcpyAsync (logits)");
  check(cudaEventRecord(slot.read_done, copy_out_), "cudaEventRecord");
  slot.read_pending = true;
  return std::make_unique<PendingLogits>(slot, count);
}

}  // namespace rerankd::cuda
