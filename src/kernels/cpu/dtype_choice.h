#pragma once
// Which precision a --dtype names on this CPU, and why. `auto` takes the fastest precision that
// meets its accuracy budget here: int8, then bf16 where the CPU multiplies it natively, then
// float32. The accuracy figures are measured on the test models against the float64 reference
// (tests/unit/precision_test.cpp holds them as regression guards; docs/performance.md explains
// them); they are the same on every ISA, since every ISA computes the same integers in int8
// (int8_linear.h) and the same bf16 products.
#include <string>

namespace rerankd::cpu {

enum class CpuPrecision { kFloat32, kBFloat16, kInt8 };

const char* precision_name(CpuPrecision precision);

struct PrecisionChoice {
  CpuPrecision precision = CpuPrecision::kFloat32;
  std::string reason;   // why this precision, for the start-up log and /info
  std::string warning;  // non-empty when an explicit dtype misses its accuracy budget
};

// dtype: auto | float32 | bfloat16 | int8. bfloat16 without native support is refused (emulated,
// it would be slower than float32). Throws Error (kInvalidInput).
PrecisionChoice choose_precision(const std::string& dtype);

}  // namespace rerankd::cpu
