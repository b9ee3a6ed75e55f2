#pragma once
// Which instruction sets the CPU backend uses, and why. One setting governs all of it: oneDNN's
// effective ISA, which is what the CPU offers capped by ONEDNN_MAX_CPU_ISA (e.g. AVX2, SSE41).
// rerankd's own kernels follow the same level, so forcing one variable runs the whole backend as
// it would run on an older CPU: the suite does so to test every dispatch level on any machine.
#include <string>

namespace rerankd::cpu {

// The code paths our multiversioned kernels are compiled for (multiversion.h).
enum class KernelIsa { kBaseline, kAvx2, kAvx512 };

// Read once, at first use (oneDNN reads ONEDNN_MAX_CPU_ISA then too).
KernelIsa kernel_isa();
const char* kernel_isa_name(KernelIsa isa);

// oneDNN's effective ISA, e.g. "AVX2", "AVX-512 BF16", "AMX".
std::string cpu_isa_name();
// bf16 matmuls run natively (AVX512-BF16 or AMX): emulated, bf16 would be slower than float32.
bool cpu_has_bf16();
// u8 x s8 dot products accumulate straight into 32 bits (AVX512-VNNI, AVX-VNNI): oneDNN's int8
// matmul is then exact for 8-bit weights.
bool cpu_has_vnni();

}  // namespace rerankd::cpu
