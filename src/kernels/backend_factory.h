#pragma once
// The one place that turns a device and a dtype into a Backend. Everything above kernels/ asks for
// a backend here and then sees only the Backend interface (backend.h): it never names a device,
// includes a backend's headers or knows which libraries a backend links.
//
//   device: "cpu" | "cuda" | "cuda:N"     dtype: "auto" | "float32" | "float16" | "bfloat16" | "int8"
//
// Which dtypes a device takes, and what `auto` picks, is the backend's own choice (cpu/dtype_choice.h,
// cuda/cuda_plan.h). Errors are Error(kInvalidInput) for a device or dtype that is malformed or
// that this build or device does not offer, and Error(kUnavailable) when a CUDA build finds no
// usable CUDA device at run time.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/backend.h"

namespace rerankd {

struct DeviceName {
  enum class Kind { kCpu, kCuda };
  Kind kind = Kind::kCpu;
  int index = 0;  // the CUDA device ordinal; 0 for the CPU

  std::string to_string() const;  // "cpu", "cuda:0"
  friend bool operator==(const DeviceName&, const DeviceName&) = default;
};

// "cpu", "cuda" (= cuda:0) or "cuda:N"; surrounding blanks and letter case are ignored. Throws
// Error(kInvalidInput) naming the accepted forms.
DeviceName parse_device(std::string_view text);

struct BackendRequest {
  std::string device = "cpu";
  std::string dtype = "auto";
  int threads = 0;  // CPU compute threads; 0 = one per physical core. A device backend ignores it.
};

struct MadeBackend {
  std::unique_ptr<Backend> backend;
  std::string precision_reason;  // why `dtype` resolved as it did, for the start-up log and /info
  std::string warning;           // non-empty when an explicit dtype misses its accuracy budget
};

MadeBackend make_backend(const BackendRequest& request);

// Whether this binary was built with the CUDA backend (-DRERANKD_CUDA=ON).
bool cuda_backend_built();

// Every dtype some backend of this build accepts, for --dtype's validation and help.
std::vector<std::string> known_dtypes();

}  // namespace rerankd
