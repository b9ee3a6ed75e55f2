#pragma once
// Our int8 matmul for CPUs without VNNI: s32 c[m, n] = sum_k (a[m, k] - 128) * b[n, k], with a the
// activations' u8 form (zero point 128, values 1..255: narrow_convert.h) and b the weights, s8 in
// [-127, 127], row-major [cols, depth] as the checkpoint stores them. Exact for 8-bit weights.
//
// Why not oneDNN there: without VNNI its u8 x s8 matmul multiplies with vpmaddubsw, whose 16-bit
// pair sums saturate once 2 * 255 * |w| > 32767, so it is exact only for 7-bit weights, and 7-bit
// weights double the int8 error. The AVX2 kernel here multiplies |a| by b carrying a's sign
// (vpsignb): |a| <= 128 and |b| <= 127 keep every pair sum within 16 bits. A baseline (scalar)
// path serves CPUs below AVX2.
#include <cstdint>

namespace rerankd::cpu {

// c is [rows, cols], row-major. Runs on the calling thread's OpenMP team.
void int8_gemm(const uint8_t* a, const int8_t* b, int64_t rows, int64_t cols, int64_t depth, int32_t* c);

// What int8_gemm runs on this CPU (for /info and the start-up log).
const char* int8_gemm_kernel_name();

}  // namespace rerankd::cpu
