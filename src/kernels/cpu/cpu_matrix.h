#pragma once
// Host activation storage for the CPU backend: 64-byte aligned, zeroed once so that the rows past
// `rows` (read when a matmul's M is rounded up) are always finite.
//
// A matrix holds float32 values, a narrow copy in the form the backend's bf16 or int8 linear
// layers read, or both. Producers that have a row in cache write its narrow form alongside (a
// LayerNorm, an epilogue), so the next linear layer skips a conversion pass over memory; a
// matrix the graph declared MatrixUse::kLinearInput keeps only the narrow form. Readers ask for
// the form they want: the narrow one is converted from the float32 values when it is stale. Its
// storage is made on first use, so a matrix no narrow layer reads (qkv, the head's) has none.
// Owned by the one compute thread, like the rest of the backend.
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "kernels/backend.h"
#include "kernels/cpu/narrow_convert.h"

namespace rerankd::cpu {

// Matmul row counts are rounded up to this so a few primitive shapes serve all batch sizes.
constexpr int64_t kRowAlignment = 8;
inline int64_t round_rows(int64_t rows) { return (rows + kRowAlignment - 1) / kRowAlignment * kRowAlignment; }

enum class NarrowForm { kNone, kBFloat16, kInt8 };

struct QuantizedRows {
  const uint8_t* values;           // [rows, width], zero point kQuantizedActivationZeroPoint
  const float* row_inverse_scale;  // [rows]
};

class CpuMatrix final : public DeviceMatrix {
 public:
  // keep_floats false: only the narrow form is stored (narrow must not be kNone).
  CpuMatrix(int64_t capacity_rows, int64_t matrix_width, NarrowForm narrow, bool keep_floats);

  NarrowForm narrow_form() const { return narrow_; }
  bool keeps_floats() const { return floats_ != nullptr; }

  // --- reading -------------------------------------------------------------------------------------
  // The float32 values; an internal error if the last write left only the narrow form.
  const float* floats() const;
  // The narrow form of the first `row_count` rows, converted from the float32 values if it is stale.
  const uint16_t* bf16(int64_t row_count) const;
  QuantizedRows quantized(int64_t row_count) const;

  // --- writing: say which forms the write fills, then fill them ------------------------------------
  // Only the float32 values; the narrow form goes stale.
  float* write_floats();
  // The float32 values and the narrow form of the first `row_count` rows.
  struct Both {
    float* floats;
    NarrowRowsOut narrow;
  };
  Both write_both(int64_t row_count);
  // Only the narrow form of the first `row_count` rows; the float32 values go stale.
  NarrowRowsOut write_narrow(int64_t row_count);

 private:
  struct Free {
    void operator()(void* p) const { std::free(p); }
  };
  template <typename T>
  using Buffer = std::unique_ptr<T, Free>;
  NarrowRowsOut narrow_out() const;  // allocates the narrow storage the first time
  void convert_to_narrow(int64_t row_count) const;

  NarrowForm narrow_;
  Buffer<float> floats_;  // null when only the narrow form is kept
  // Mutable: made on first use, possibly by a reader (see above).
  mutable Buffer<uint16_t> bf16_;
  mutable Buffer<uint8_t> u8_;
  mutable Buffer<float> row_inverse_scale_;
  bool floats_current_ = true;
  // The narrow form is current for the first narrow_rows_ rows. Mutable: converting on a read
  // caches a copy, it does not change the matrix's value.
  mutable int64_t narrow_rows_ = 0;
};

inline CpuMatrix& as_cpu(DeviceMatrix& m) { return static_cast<CpuMatrix&>(m); }
inline const CpuMatrix& as_cpu(const DeviceMatrix& m) { return static_cast<const CpuMatrix&>(m); }

}  // namespace rerankd::cpu
