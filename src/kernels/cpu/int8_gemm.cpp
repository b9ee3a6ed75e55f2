#include "kernels/cpu/int8_gemm.h"

#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/cpu_isa.h"

namespace rerankd::cpu {
namespace {

// A tile is 2 rows x 4 columns of c: 8 accumulators, 2 activation rows (and their magnitudes) and
// one weight vector in registers, 15 of AVX2's 16.
constexpr int64_t kTileRows = 2;
constexpr int64_t kTileCols = 4;
// Work is split into blocks of rows x columns: a block's weight panel (cols x depth bytes) stays in
// L2 while its rows go by, a tile's two activation rows stay in L1 across the panel's columns.
constexpr int64_t kPanelBytes = 128 * 1024;
constexpr int64_t kBlockRows = 64;

int32_t dot_tail(const uint8_t* a, const int8_t* b, int64_t from, int64_t depth) {
  int32_t sum = 0;
  for (int64_t k = from; k < depth; ++k) sum += (static_cast<int32_t>(a[k]) - 128) * b[k];
  return sum;
}

// The baseline path, also the reference the AVX2 tile must equal exactly.
void block_scalar(const uint8_t* a, const int8_t* b, int64_t row_begin, int64_t row_end, int64_t col_begin,
                  int64_t col_end, int64_t cols, int64_t depth, int32_t* c) {
  for (int64_t i = row_begin; i < row_end; ++i) {
    for (int64_t j = col_begin; j < col_end; ++j) c[i * cols + j] = dot_tail(a + i * depth, b + j * depth, 0, depth);
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
#define RERANKD_AVX2 __attribute__((target("avx2,fma,bmi2")))

RERANKD_AVX2 inline int32_t horizontal_sum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
  return _mm_cvtsi128_si32(s);
}

// R x C outputs over the whole depth. Per 32 k: a ^ 0x80 is a - 128 as s8; vpmaddubsw multiplies
// the unsigned |a| by sign(a) * b and adds neighbouring products into s16 (at most 2 * 128 * 127 =
// 32512: no saturation); vpmaddwd by ones widens to s32.
template <int R, int C>
RERANKD_AVX2 void tile(const uint8_t* a, const int8_t* b, int64_t depth, int32_t* c, int64_t ldc) {
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[R][C];
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < C; ++j) acc[r][j] = _mm256_setzero_si256();
  }
  int64_t k = 0;
  for (; k + 32 <= depth; k += 32) {
    __m256i x[R], magnitude[R];
    for (int r = 0; r < R; ++r) {
      x[r] = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a + r * depth + k)), flip);
      magnitude[r] = _mm256_abs_epi8(x[r]);
    }
    for (int j = 0; j < C; ++j) {
      const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + j * depth + k));
      for (int r = 0; r < R; ++r) {
        const __m256i pairs = _mm256_maddubs_epi16(magnitude[r], _mm256_sign_epi8(w, x[r]));
        acc[r][j] = _mm256_add_epi32(acc[r][j], _mm256_madd_epi16(pairs, ones));
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < C; ++j) {
      c[r * ldc + j] = horizontal_sum(acc[r][j]) + dot_tail(a + r * depth, b + j * depth, k, depth);
    }
  }
}

template <int R>
RERANKD_AVX2 void tile_cols(const uint8_t* a, const int8_t* b, int64_t n, int64_t depth, int32_t* c, int64_t ldc) {
  switch (n) {
    case 4: return tile<R, 4>(a, b, depth, c, ldc);
    case 3: return tile<R, 3>(a, b, depth, c, ldc);
    case 2: return tile<R, 2>(a, b, depth, c, ldc);
    default: return tile<R, 1>(a, b, depth, c, ldc);
  }
}

RERANKD_AVX2 void block_avx2(const uint8_t* a, const int8_t* b, int64_t row_begin, int64_t row_end,
                             int64_t col_begin, int64_t col_end, int64_t cols, int64_t depth, int32_t* c) {
  for (int64_t i = row_begin; i < row_end; i += kTileRows) {
    const int64_t m = std::min(kTileRows, row_end - i);
    for (int64_t j = col_begin; j < col_end; j += kTileCols) {
      const int64_t n = std::min(kTileCols, col_end - j);
      int32_t* out = c + i * cols + j;
      if (m == kTileRows) {
        tile_cols<2>(a + i * depth, b + j * depth, n, depth, out, cols);
      } else {
        tile_cols<1>(a + i * depth, b + j * depth, n, depth, out, cols);
      }
    }
  }
}
#endif

bool use_avx2() {
#if defined(__x86_64__) && defined(__GNUC__)
  return kernel_isa() != KernelIsa::kBaseline;
#else
  return false;
#endif
}

}  // namespace

void int8_gemm(const uint8_t* a, const int8_t* b, int64_t rows, int64_t cols, int64_t depth, int32_t* c) {
  const int64_t panel_cols =
      std::max<int64_t>(kTileCols, kPanelBytes / std::max<int64_t>(depth, 1) / kTileCols * kTileCols);
  const int64_t col_blocks = (cols + panel_cols - 1) / panel_cols;
  const int64_t row_blocks = (rows + kBlockRows - 1) / kBlockRows;
  [[maybe_unused]] const bool avx2 = use_avx2();
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t jb = 0; jb < col_blocks; ++jb) {
    for (int64_t ib = 0; ib < row_blocks; ++ib) {
      const int64_t row_begin = ib * kBlockRows, row_end = std::min(rows, row_begin + kBlockRows);
      const int64_t col_begin = jb * panel_cols, col_end = std::min(cols, col_begin + panel_cols);
#if defined(__x86_64__) && defined(__GNUC__)
      if (avx2) {
        block_avx2(a, b, row_begin, row_end, col_begin, col_end, cols, depth, c);
        continue;
      }
#endif
      block_scalar(a, b, row_begin, row_end, col_begin, col_end, cols, depth, c);
    }
  }
}

const char* int8_gemm_kernel_name() {
  return use_avx2() ? "rerankd AVX2 int8 (sign-split vpmaddubsw, 8-bit weights)" : "rerankd scalar int8";
}

}  // namespace rerankd::cpu
