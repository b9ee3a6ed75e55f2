#pragma once
// float32 activations to the narrow forms the bf16 and int8 linear layers read:
// - bf16: round to nearest even (the values are finite activations: no NaN handling);
// - int8: u8 with zero point 128, round(x * 127 / max|row|) + 128, and the row's inverse scale
//   max|row| / 127 that takes the integers back (dynamic per-token quantization).
// The row functions run inside other kernels' row loops (a LayerNorm or an epilogue writes its
// row's narrow form while the row is still in cache); the *_rows ones run on their own, in
// parallel over the backend's OpenMP threads.
#include <cstdint>

namespace rerankd::cpu {

constexpr float kQuantizedActivationRange = 127.f;
constexpr int32_t kQuantizedActivationZeroPoint = 128;

void round_row_to_bf16(const float* x, int64_t n, uint16_t* y);
// Returns the row's inverse scale.
float quantize_row(const float* x, int64_t n, uint8_t* q);

void round_rows_to_bf16(const float* x, int64_t rows, int64_t width, uint16_t* y);
void quantize_rows(const float* x, int64_t rows, int64_t width, uint8_t* q, float* row_inverse_scale);

// Where a row kernel writes row r's narrow form: at most one of bf16 and u8 is set; neither for a
// float32-only matrix.
struct NarrowRowsOut {
  uint16_t* bf16 = nullptr;
  uint8_t* u8 = nullptr;
  float* row_inverse_scale = nullptr;

  void write_row(const float* x, int64_t r, int64_t width) const {
    if (bf16 != nullptr) round_row_to_bf16(x, width, bf16 + r * width);
    if (u8 != nullptr) row_inverse_scale[r] = quantize_row(x, width, u8 + r * width);
  }
};

}  // namespace rerankd::cpu
