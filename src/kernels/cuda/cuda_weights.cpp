#include "kernels/cuda/cuda_weights.h"

#include <algorithm>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_plan.h"

namespace rerankd::cuda {
namespace {

constexpr int64_t kStagingElements = int64_t{8} << 20;  // weights are converted 8M elements at a time

ElementType stored_type(DType dtype) {
  switch (dtype) {
    case DType::kF32: return ElementType::kFloat32;
    case DType::kF16: return ElementType::kFloat16;
    case DType::kBF16: return ElementType::kBFloat16;
  }
  return ElementType::kFloat32;
}

}  // namespace

WeightLoader::WeightLoader(CudaPrecision precision, cudaStream_t stream)
    : precision_(precision), narrow_(element_type(precision)), stream_(stream), nonfinite_(sizeof(int)) {}

void WeightLoader::upload(const TensorView& view, void* dst, ElementType type) {
  const ElementType from = stored_type(view.dtype);
  const int64_t count = view.numel();
  const int src_size = element_size(from), dst_size = element_size(type);
  if (staging_.get() == nullptr) staging_ = DeviceBuffer(kStagingElements * 4);
  check(cudaMemsetAsync(nonfinite_.get(), 0, sizeof(int), stream_), "cudaMemsetAsync");
  for (int64_t at = 0; at < count; at += kStagingElements) {
    const int64_t n = std::min(kStagingElements, count - at);
    // On the stream the convert kernel runs on, so the kernel reads the chunk only once it has
    // arrived and the next chunk overwrites the staging buffer only once the kernel is done. (A
    // cudaMemcpy from pageable memory may return before its DMA ends, and the legacy stream it
    // runs on is not ordered with a non-blocking one: the kernel could read a stale tail.)
    check(cudaMemcpyAsync(staging_.get(), view.data + at * src_size, static_cast<size_t>(n * src_size),
                          cudaMemcpyHostToDevice, stream_),
          "cudaMemcpyAsync (weights)");
    launch_convert(staging_.get(), from, static_cast<char*>(dst) + at * dst_size, type, n,
                   static_cast<int*>(nonfinite_.get()), stream_);
    check(cudaGetLastError(), "convert kernel");
  }
  int nonfinite = 0;
  check(cudaMemcpyAsync(&nonfinite, nonfinite_.get(), sizeof(int), cudaMemcpyDeviceToHost, stream_),
        "cudaMemcpyAsync (non-finite count)");
  check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize (weights)");
  // The device holds the tensor now: its host pages, which the copy (and the finiteness check
  // before it) made resident, leave the process (a bias uploaded twice faults back in).
  release_pages(view);
  if (nonfinite > 0) {
    throw Error(Error::Kind::kModelFormat, view.file.string() + ": tensor '" + view.name + "': " +
                                               std::to_string(nonfinite) + " values are out of " +
                                               precision_name(precision_) + "'s range; use --dtype float32");
  }
}

DeviceBuffer WeightLoader::upload_new(const TensorView& view, ElementType type) {
  DeviceBuffer buffer(view.numel() * element_size(type));
  upload(view, buffer.get(), type);
  bytes_ += buffer.bytes();
  return buffer;
}

std::unique_ptr<CudaLinear> WeightLoader::load_linear(std::span<const TensorView* const> weights,
                                                      std::span<const TensorView* const> biases, LinearUse use) {
  if (weights.empty() || (!biases.empty() && biases.size() != weights.size())) {
    throw Error(Error::Kind::kInternal, "load_linear: " + std::to_string(weights.size()) + " weights with " +
                                            std::to_string(biases.size()) + " biases");
  }
  const bool biased = !biases.empty();
  auto linear = std::make_unique<CudaLinear>();
  linear->head = use == LinearUse::kHead;
  int64_t out = 0;
  for (const TensorView* w : weights) out += w->shape.at(0);
  const int64_t in = weights.front()->shape.at(1);
  linear->in_features = in;
  linear->out_features = out;
  const ElementType weight_type = linear->head ? ElementType::kFloat32 : narrow_;
  linear->weight = DeviceBuffer(out * in * element_size(weight_type));
  if (biased) linear->bias_f32 = DeviceBuffer(out * 4);
  bytes_ += linear->weight.bytes() + linear->bias_f32.bytes();
  int64_t row = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i]->shape.size() != 2 || weights[i]->shape[1] != in) {
      throw Error(Error::Kind::kModelFormat, weights[i]->file.string() + ": tensor '" + weights[i]->name +
                                                 "': not a [out, " + std::to_string(in) + "] matrix like the " +
                                                 "weights it is fused with");
    }
    upload(*weights[i], static_cast<char*>(linear->weight.get()) + row * in * element_size(weight_type), weight_type);
    if (!biased) {
      row += weights[i]->shape.at(0);
      continue;
    }
    upload(*biases[i], static_cast<char*>(linear->bias_f32.get()) + row * 4, ElementType::kFloat32);
    if (!linear->head && narrow_ != ElementType::kFloat32) {
      if (linear->bias_narrow.get() == nullptr) {
        linear->bias_narrow = DeviceBuffer(out * element_size(narrow_));
        bytes_ += linear->bias_narrow.bytes();
      }
      upload(*biases[i], static_cast<char*>(linear->bias_narrow.get()) + row * element_size(narrow_), narrow_);
    }
    row += weights[i]->shape.at(0);
  }
  return linear;
}

std::unique_ptr<CudaNorm> WeightLoader::load_norm(const TensorView& gamma, const TensorView& beta, double eps) {
  auto norm = std::make_unique<CudaNorm>();
  norm->gamma = upload_new(gamma, ElementType::kFloat32);
  norm->beta = upload_new(beta, ElementType::kFloat32);
  norm->eps = static_cast<float>(eps);
  return norm;
}

std::unique_ptr<CudaEmbeddings> WeightLoader::load_embeddings(const TensorView& word, const TensorView& position,
                                                              const TensorView& token_type) {
  auto tables = std::make_unique<CudaEmbeddings>();
  // The word table is the largest tensor (~0.5 GB in float16 for bge-m3): in the compute
  // precision. The position table and token types are small: float32.
  tables->word_type = narrow_;
  tables->word = upload_new(word, narrow_);
  tables->position = upload_new(position, ElementType::kFloat32);
  tables->token_type = upload_new(token_type, ElementType::kFloat32);
  tables->bounds = {.vocab = word.shape.at(0), .positions = position.shape.at(0), .types = token_type.shape.at(0)};
  return tables;
}

std::unique_ptr<CudaNorm> WeightLoader::load_rms_norm(const TensorView& gamma, double eps, float offset) {
  auto norm = std::make_unique<CudaNorm>();
  norm->gamma = upload_new(gamma, ElementType::kFloat32);
  norm->eps = static_cast<float>(eps);
  norm->rms = true;
  norm->offset = offset;
  norm->width = gamma.numel();
  return norm;
}

std::unique_ptr<CudaEmbeddings> WeightLoader::load_token_embeddings(const TensorView& word, float scale) {
  auto tables = std::make_unique<CudaEmbeddings>();
  // In the compute precision, like the encoder's word table (the largest tensor of most rerankers).
  tables->word_type = narrow_;
  tables->word = upload_new(word, narrow_);
  tables->scale = scale;
  // Rotary positions index no table, and a decoder has no token types: any position, type 0.
  tables->bounds = {.vocab = word.shape.at(0), .positions = int64_t{1} << 31, .types = 1};
  return tables;
}

}  // namespace rerankd::cuda
