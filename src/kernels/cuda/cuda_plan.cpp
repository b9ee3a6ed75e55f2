#include "kernels/cuda/cuda_plan.h"

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

}  // namespace rerankd::cuda
