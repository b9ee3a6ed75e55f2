#include "kernels/cpu/int8_gemm.h"

#include <immintrin.h>

#include <algorithm>

#include "kernels/cpu/cpu_isa.h"

namespace rerankd::cpu {
namespace {

// A tile is 2 rows x 4 columns of c (8 accumulators in registers; see tile_2x4).
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

// One 32-k step of one output: acc += (a - 128) . w over 32 bytes. x = a ^ 0x80 is a - 128 as s8;
// vpmaddubsw multiplies the unsigned |x| by sign(x) * w and adds neighbouring products into s16
// (at most 2 * 128 * 127 = 32512: no saturation); vpmaddwd by ones widens them to s32.
RERANKD_AVX2 [[gnu::always_inline]] inline __m256i dot_step(__m256i acc, __m256i magnitude, __m256i x,
                                                           const int8_t* w) {
  const __m256i weights = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
  const __m256i pairs = _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(weights, x));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

RERANKD_AVX2 [[gnu::always_inline]] inline __m256i signed_activations(const uint8_t* a) {
  return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a)),
                          _mm256_set1_epi8(static_cast<char>(0x80)));
}

// The full 2 x 4 tile, with its accumulators in named variables: GCC spills an array of them to
// the stack, and the loop then waits on store-to-load forwarding (measured: half the speed). Row
// by row, reloading the weights from L1 for the second row, it needs 14 of AVX2's 16 registers.
RERANKD_AVX2 void tile_2x4(const uint8_t* a, const int8_t* b, int64_t depth, int32_t* c, int64_t ldc) {
  __m256i c00 = _mm256_setzero_si256(), c01 = c00, c02 = c00, c03 = c00;
  __m256i c10 = c00, c11 = c00, c12 = c00, c13 = c00;
  const uint8_t* a1 = a + depth;
  const int8_t *b1 = b + depth, *b2 = b + 2 * depth, *b3 = b + 3 * depth;
  int64_t k = 0;
  for (; k + 32 <= depth; k += 32) {
    const __m256i x0 = signed_activations(a + k), m0 = _mm256_abs_epi8(x0);
    c00 = dot_step(c00, m0, x0, b + k);
    c01 = dot_step(c01, m0, x0, b1 + k);
    c02 = dot_step(c02, m0, x0, b2 + k);
    c03 = dot_step(c03, m0, x0, b3 + k);
    const __m256i x1 = signed_activations(a1 + k), m1 = _mm256_abs_epi8(x1);
    c10 = dot_step(c10, m1, x1, b + k);
    c11 = dot_step(c11, m1, x1, b1 + k);
    c12 = dot_step(c12, m1, x1, b2 + k);
    c13 = dot_step(c13, m1, x1, b3 + k);
  }
  const __m256i sums[2][4] = {{c00, c01, c02, c03}, {c10, c11, c12, c13}};
  for (int r = 0; r < 2; ++r) {
    for (int j = 0; j < 4; ++j) {
      c[r * ldc + j] = horizontal_sum(sums[r][j]) + dot_tail(a + r * depth, b + j * depth, k, depth);
    }
  }
}

// Any smaller tile at the matrix's edges, one output at a time.
RERANKD_AVX2 void tile_edge(const uint8_t* a, const int8_t* b, int64_t m, int64_t n, int64_t depth, int32_t* c,
                            int64_t ldc) {
  for (int64_t r = 0; r < m; ++r) {
    for (int64_t j = 0; j < n; ++j) {
      __m256i acc = _mm256_setzero_si256();
      int64_t k = 0;
      for (; k + 32 <= depth; k += 32) {
        const __m256i x = signed_activations(a + r * depth + k);
        acc = dot_step(acc, _mm256_abs_epi8(x), x, b + j * depth + k);
      }
      c[r * ldc + j] = horizontal_sum(acc) + dot_tail(a + r * depth, b + j * depth, k, depth);
    }
  }
}

RERANKD_AVX2 void block_avx2(const uint8_t* a, const int8_t* b, int64_t row_begin, int64_t row_end,
                             int64_t col_begin, int64_t col_end, int64_t cols, int64_t depth, int32_t* c) {
  for (int64_t i = row_begin; i < row_end; i += kTileRows) {
    const int64_t m = std::min(kTileRows, row_end - i);
    for (int64_t j = col_begin; j < col_end; j += kTileCols) {
      const int64_t n = std::min(kTileCols, col_end - j);
      int32_t* out = c + i * cols + j;
      if (m == kTileRows && n == kTileCols) {
        tile_2x4(a + i * depth, b + j * depth, depth, out, cols);
      } else {
        tile_edge(a + i * depth, b + j * depth, m, n, depth, out, cols);
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
