#include "kernels/cpu/dtype_choice.h"

#include <fmt/format.h>

#include "common/error.h"
#include "kernels/cpu/cpu_isa.h"

namespace rerankd::cpu {
namespace {

// The budget (largest sigmoid-score error, smallest per-query Kendall tau against the float64
// reference) and what each narrow precision measures on the test models' ranking sets (the worse
// of tiny and small). int8 misses its budget there, so `auto` does not pick it. bf16's figure is
// over 0.01 on `small`, whose own weights move by as much when rounded to bf16, and under PyTorch's
// bf16 autocast on the same set (0.0178): it stays the default where the CPU runs it natively.
struct Accuracy {
  double budget_sigmoid_error, budget_tau;
  double measured_sigmoid_error, measured_tau;
  bool chosen_by_auto;
};
constexpr Accuracy kInt8Accuracy{0.03, 0.95, 0.036, 0.93, false};
constexpr Accuracy kBFloat16Accuracy{0.01, 0.98, 0.0137, 0.985, true};

std::string figures(const Accuracy& a) {
  return fmt::format("max |dsigmoid| {} and min Kendall tau {} on the test models (budget {} and {})",
                     a.measured_sigmoid_error, a.measured_tau, a.budget_sigmoid_error, a.budget_tau);
}

}  // namespace

const char* precision_name(CpuPrecision precision) {
  switch (precision) {
    case CpuPrecision::kFloat32: return "float32";
    case CpuPrecision::kBFloat16: return "bfloat16";
    case CpuPrecision::kInt8: return "int8";
  }
  return "float32";
}

PrecisionChoice choose_precision(const std::string& dtype) {
  if (dtype == "auto") {
    static_assert(!kInt8Accuracy.chosen_by_auto && kBFloat16Accuracy.chosen_by_auto,
                  "update the reasons below with the table");
    if (cpu_has_bf16()) {
      return {CpuPrecision::kBFloat16,
              "auto: native bf16 on " + cpu_isa_name() + "; int8 not chosen: " + figures(kInt8Accuracy), ""};
    }
    return {CpuPrecision::kFloat32,
            "auto: no native bf16 on " + cpu_isa_name() + "; int8 not chosen: " + figures(kInt8Accuracy), ""};
  }
  if (dtype == "float32") return {CpuPrecision::kFloat32, "requested", ""};
  if (dtype == "int8") {
    return {CpuPrecision::kInt8, "requested",
            "int8 misses its accuracy budget: " + figures(kInt8Accuracy)};
  }
  if (dtype == "bfloat16") {
    if (!cpu_has_bf16()) {
      throw Error(Error::Kind::kInvalidInput, "dtype 'bfloat16' needs AVX512-BF16 or AMX, and this CPU offers " +
                                                  cpu_isa_name() + "; use float32 or int8");
    }
    return {CpuPrecision::kBFloat16, "requested", ""};
  }
  throw Error(Error::Kind::kInvalidInput, "dtype '" + dtype + "' is not one of auto, float32, bfloat16, int8");
}

}  // namespace rerankd::cpu
