#include "kernels/backend_factory.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>

#include "common/error.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/dtype_choice.h"
#ifdef RERANKD_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif
#include "kernels/cuda/cuda_plan.h"

namespace rerankd {
namespace {

std::string trimmed_lower(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

[[noreturn]] void bad_device(std::string_view text, const std::string& why) {
  throw Error(Error::Kind::kInvalidInput,
              "device '" + std::string(text) + "' " + why + "; expected cpu, cuda or cuda:N (N = 0, 1, ...)");
}

}  // namespace

std::string DeviceName::to_string() const {
  return kind == Kind::kCpu ? std::string("cpu") : "cuda:" + std::to_string(index);
}

DeviceName parse_device(std::string_view text) {
  const std::string t = trimmed_lower(text);
  if (t == "cpu") return {DeviceName::Kind::kCpu, 0};
  if (t == "cuda") return {DeviceName::Kind::kCuda, 0};
  constexpr std::string_view prefix = "cuda:";
  if (t.starts_with(prefix)) {
    const std::string_view digits = std::string_view(t).substr(prefix.size());
    int index = -1;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || index < 0 ||
        !std::all_of(digits.begin(), digits.end(), [](unsigned char c) { return std::isdigit(c); })) {
      bad_device(text, "has no valid device number after 'cuda:'");
    }
    return {DeviceName::Kind::kCuda, index};
  }
  bad_device(text, "is not a device");
}

bool cuda_backend_built() {
#ifdef RERANKD_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

std::vector<std::string> known_dtypes() { return {"auto", "float32", "float16", "bfloat16", "int8"}; }

MadeBackend make_backend(const BackendRequest& request) {
  const DeviceName device = parse_device(request.device);
  MadeBackend made;
  if (device.kind == DeviceName::Kind::kCpu) {
    if (request.dtype == "float16") {
      throw Error(Error::Kind::kInvalidInput,
                  "dtype 'float16' runs on CUDA devices only; on the CPU use auto, float32, bfloat16 or int8");
    }
    const cpu::PrecisionChoice choice = cpu::choose_precision(request.dtype);
    made.backend = std::make_unique<cpu::CpuBackend>(choice.precision, request.threads);
    made.precision_reason = choice.reason;
    made.warning = choice.warning;
    return made;
  }
  // CUDA: the dtype is checked first, so a wrong one is named even in a build without CUDA.
  const cuda::PrecisionChoice choice = cuda::choose_precision(request.dtype);
#ifdef RERANKD_HAVE_CUDA
  made.backend = std::make_unique<cuda::CudaBackend>(
      device.index, choice.precision,
      cuda::cuda_options(std::getenv("RERANKD_CUDA_OVERLAP"), std::getenv("RERANKD_CUDA_EXACT_GELU")));
  made.precision_reason = choice.reason;
  made.warning = choice.warning;
  return made;
#else
  (void)choice;
  throw Error(Error::Kind::kInvalidInput, "device '" + device.to_string() +
                                              "': this rerankd was built without the CUDA backend (configure with "
                                              "-DRERANKD_CUDA=ON where nvcc is installed); use the cpu device");
#endif
}

}  // namespace rerankd
