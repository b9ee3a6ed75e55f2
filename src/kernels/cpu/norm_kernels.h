#pragma once
// Our own row-wise kernels: LayerNorm in place (writing the row's narrow form while it is in
// cache), and the embedding sum fused with its LayerNorm.
// Rows run in parallel on OpenMP (the same pool oneDNN uses); each row's arithmetic is compiled
// for AVX-512, AVX2 and a portable baseline and picked at run time.
#include <cstdint>

#include "kernels/cpu/narrow_convert.h"
#include "tensor/tensor_view.h"

namespace rerankd::cpu {

struct LayerNormParams {
  const float* gamma;
  const float* beta;
  float eps;
};

void layer_norm_row(float* x, int64_t width, const LayerNormParams& norm);
// Normalises rows in place and writes each row's narrow form to `narrow` (if it names one).
void layer_norm_rows(float* x, int64_t rows, int64_t width, const LayerNormParams& norm, const NarrowRowsOut& narrow);

// out[t] = LayerNorm(word[ids[t]] + position[positions[t]] + token_type[types[t]]), and its narrow
// form. types null: every token is of type 0. The word table is read in place in the dtype it is
// stored in (`word_dtype`, any alignment), each row widened to float32 as it is read: it is the
// largest tensor (bge-m3: 250002 x 1024) and a batch reads a few hundred of its rows.
void embed_rows(const int32_t* ids, const int32_t* positions, const int32_t* types, int64_t rows, int64_t width,
                const std::byte* word, DType word_dtype, const float* position, const float* token_type,
                const LayerNormParams& norm, float* out, const NarrowRowsOut& narrow);

}  // namespace rerankd::cpu
