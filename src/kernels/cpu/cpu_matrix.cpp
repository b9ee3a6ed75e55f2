#include "kernels/cpu/cpu_matrix.h"

#include <cstring>
#include <string>

#include "common/error.h"

namespace rerankd::cpu {
namespace {

template <typename T>
T* zeroed_aligned(int64_t count) {
  const size_t bytes = (static_cast<size_t>(count) * sizeof(T) + 63) / 64 * 64;
  auto* p = static_cast<T*>(std::aligned_alloc(64, bytes));
  if (p == nullptr) throw Error(Error::Kind::kInternal, "out of memory for a " + std::to_string(bytes) + "-byte matrix");
  std::memset(p, 0, bytes);
  return p;
}

}  // namespace

CpuMatrix::CpuMatrix(int64_t capacity_rows, int64_t matrix_width, NarrowForm narrow, bool keep_floats)
    : narrow_(narrow) {
  if (!keep_floats && narrow == NarrowForm::kNone) {
    throw Error(Error::Kind::kInternal, "a matrix without float32 values needs a narrow form");
  }
  capacity = round_rows(capacity_rows);
  width = matrix_width;
  if (keep_floats) floats_.reset(zeroed_aligned<float>(capacity * width));
  floats_current_ = keep_floats;
  if (!keep_floats) {
    narrow_out();             // the only storage: made now
    narrow_rows_ = capacity;  // zeros in every form
  }
}

const float* CpuMatrix::floats() const {
  if (!floats_ || !floats_current_) {
    throw Error(Error::Kind::kInternal, "a matrix holding only its narrow form was read as float32");
  }
  return floats_.get();
}

void CpuMatrix::convert_to_narrow(int64_t row_count) const {
  if (row_count <= narrow_rows_) return;
  const float* x = floats();
  const NarrowRowsOut narrow = narrow_out();
  if (narrow.bf16 != nullptr) round_rows_to_bf16(x, row_count, width, narrow.bf16);
  if (narrow.u8 != nullptr) quantize_rows(x, row_count, width, narrow.u8, narrow.row_inverse_scale);
  narrow_rows_ = row_count;
}

const uint16_t* CpuMatrix::bf16(int64_t row_count) const {
  if (narrow_ != NarrowForm::kBFloat16) throw Error(Error::Kind::kInternal, "matrix has no bf16 form");
  convert_to_narrow(row_count);
  return narrow_out().bf16;
}

QuantizedRows CpuMatrix::quantized(int64_t row_count) const {
  if (narrow_ != NarrowForm::kInt8) throw Error(Error::Kind::kInternal, "matrix has no int8 form");
  convert_to_narrow(row_count);
  const NarrowRowsOut narrow = narrow_out();
  return {narrow.u8, narrow.row_inverse_scale};
}

float* CpuMatrix::write_floats() {
  if (!floats_) throw Error(Error::Kind::kInternal, "float32 write to a matrix holding only its narrow form");
  floats_current_ = true;
  narrow_rows_ = 0;
  return floats_.get();
}

NarrowRowsOut CpuMatrix::narrow_out() const {
  const int64_t count = capacity * width;
  if (narrow_ == NarrowForm::kBFloat16 && !bf16_) bf16_.reset(zeroed_aligned<uint16_t>(count));
  if (narrow_ == NarrowForm::kInt8 && !u8_) {
    u8_.reset(zeroed_aligned<uint8_t>(count));
    std::memset(u8_.get(), kQuantizedActivationZeroPoint, static_cast<size_t>(count));  // the value 0
    row_inverse_scale_.reset(zeroed_aligned<float>(capacity));
  }
  return {bf16_.get(), u8_.get(), row_inverse_scale_.get()};
}

CpuMatrix::Both CpuMatrix::write_both(int64_t row_count) {
  float* floats = write_floats();
  narrow_rows_ = narrow_ == NarrowForm::kNone ? 0 : row_count;
  return {floats, narrow_out()};
}

NarrowRowsOut CpuMatrix::write_narrow(int64_t row_count) {
  if (narrow_ == NarrowForm::kNone) throw Error(Error::Kind::kInternal, "narrow write to a float32-only matrix");
  floats_current_ = false;
  narrow_rows_ = row_count;
  return narrow_out();
}

}  // namespace rerankd::cpu
