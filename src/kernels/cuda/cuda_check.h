#pragma once
// CUDA, cuBLAS and cuBLASLt status codes as Error(kInternal) naming the call: a device failure is
// the backend's, and the scheduler fails the pass's requests with its message.
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <string>

#include "common/error.h"

namespace rerankd::cuda {

inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw Error(Error::Kind::kInternal, std::string("CUDA: ") + what + ": " + cudaGetErrorName(status) + " (" +
                                            cudaGetErrorString(status) + ")");
  }
}

inline void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw Error(Error::Kind::kInternal,
                std::string("cuBLAS: ") + what + ": " + cublasGetStatusName(status) + " (" + cublasGetStatusString(status) + ")");
  }
}

}  // namespace rerankd::cuda
