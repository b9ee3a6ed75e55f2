#pragma once
// The CUDA backend's weights: uploaded once at load and converted on the device from the stored
// dtype (float32, float16, bfloat16) into the form the ops read. Encoder matrices and the word
// table in the compute precision; biases in float32 and, for the encoder's fused epilogues, in the
// compute precision too; LayerNorms, the position and token-type tables and the classification
// head in float32. A value out of the compute precision's range is refused at load.
#include <cuda_runtime_api.h>

#include <memory>
#include <span>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_buffer.h"
#include "kernels/cuda/cuda_decoder_kernels.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/cuda_pass_inputs.h"

namespace rerankd::cuda {

struct CudaLinear final : LinearWeights {
  DeviceBuffer weight;       // [out, in] row-major: compute precision (encoder) or float32 (head)
  DeviceBuffer bias_f32;     // [out] float32; empty for a Linear without bias
  DeviceBuffer bias_narrow;  // [out] in the compute precision (encoder, narrow precisions); likewise
  bool head = false;
};

// A LayerNorm (gamma, beta) or an RMSNorm (gamma alone, scaled by offset + gamma).
struct CudaNorm final : NormWeights {
  DeviceBuffer gamma, beta;
  float eps = 0;
  bool rms = false;
  float offset = 0;  // RMSNorm: 1 for Gemma's (1 + w)
  int64_t width = 0;
  NormParams params() const {
    return {static_cast<const float*>(gamma.get()), static_cast<const float*>(beta.get()), eps};
  }
  RmsNormParams rms_params() const { return {static_cast<const float*>(gamma.get()), eps, offset}; }
};

// An encoder's three tables, or a decoder's token table alone (position and token_type empty),
// each row looked up scaled by `scale`.
struct CudaEmbeddings final : EmbeddingTables {
  DeviceBuffer word, position, token_type;
  ElementType word_type = ElementType::kFloat32;
  TableBounds bounds;
  float scale = 1;
};

class WeightLoader {
 public:
  // Copies and conversions go on `stream`; each load returns once its tensors are on the device.
  WeightLoader(CudaPrecision precision, cudaStream_t stream);

  std::unique_ptr<CudaLinear> load_linear(std::span<const TensorView* const> weights,
                                          std::span<const TensorView* const> biases, LinearUse use);
  std::unique_ptr<CudaNorm> load_norm(const TensorView& gamma, const TensorView& beta, double eps);
  std::unique_ptr<CudaEmbeddings> load_embeddings(const TensorView& word, const TensorView& position,
                                                  const TensorView& token_type);
  std::unique_ptr<CudaNorm> load_rms_norm(const TensorView& gamma, double eps, float offset);
  std::unique_ptr<CudaEmbeddings> load_token_embeddings(const TensorView& word, float scale);

  int64_t bytes() const { return bytes_; }  // device memory the weights hold
  // The staging buffer is needed only while loading: the first pass frees it.
  void release_staging() { staging_ = DeviceBuffer(); }

 private:
  // Copies a stored tensor into device memory at `dst` in `type`, through the staging buffer.
  void upload(const TensorView& view, void* dst, ElementType type);
  DeviceBuffer upload_new(const TensorView& view, ElementType type);

  CudaPrecision precision_;
  ElementType narrow_;
  cudaStream_t stream_;
  DeviceBuffer staging_;
  DeviceBuffer nonfinite_;  // the convert kernel's count of values out of range
  int64_t bytes_ = 0;
};

}  // namespace rerankd::cuda
