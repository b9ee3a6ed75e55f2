#pragma once
// The CUDA backend's pure host logic, compiled into every build (with or without CUDA) so that the
// CPU test suite checks it: which precision a --dtype names on a CUDA device.
#include <string>

namespace rerankd::cuda {

enum class CudaPrecision { kFloat32, kFloat16, kBFloat16 };

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

}  // namespace rerankd::cuda
