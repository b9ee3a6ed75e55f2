#include "kernels/cpu/cpu_isa.h"

#include <dnnl.hpp>

namespace rerankd::cpu {

KernelIsa kernel_isa() {
  static const KernelIsa isa = [] {
    using dnnl_isa = dnnl::cpu_isa;
    switch (dnnl::get_effective_cpu_isa()) {
      case dnnl_isa::avx2:
      case dnnl_isa::avx2_vnni: return KernelIsa::kAvx2;
      case dnnl_isa::avx512_core:
      case dnnl_isa::avx512_core_vnni:
      case dnnl_isa::avx512_core_bf16:
      case dnnl_isa::avx512_core_amx: return KernelIsa::kAvx512;
      default: return KernelIsa::kBaseline;
    }
  }();
  return isa;
}

const char* kernel_isa_name(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kAvx512: return "AVX-512";
    case KernelIsa::kAvx2: return "AVX2";
    case KernelIsa::kBaseline: return "x86-64 baseline";
  }
  return "x86-64 baseline";
}

std::string cpu_isa_name() {
  using isa = dnnl::cpu_isa;
  switch (dnnl::get_effective_cpu_isa()) {
    case isa::sse41: return "SSE4.1";
    case isa::avx: return "AVX";
    case isa::avx2: return "AVX2";
    case isa::avx2_vnni: return "AVX2 VNNI";
    case isa::avx512_core: return "AVX-512";
    case isa::avx512_core_vnni: return "AVX-512 VNNI";
    case isa::avx512_core_bf16: return "AVX-512 BF16";
    case isa::avx512_core_amx: return "AMX";
    default: return "other";
  }
}

bool cpu_has_bf16() {
  const auto isa = dnnl::get_effective_cpu_isa();
  return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
}

bool cpu_has_vnni() {
  using isa = dnnl::cpu_isa;
  switch (dnnl::get_effective_cpu_isa()) {
    case isa::avx2_vnni:
    case isa::avx512_core_vnni:
    case isa::avx512_core_bf16:
    case isa::avx512_core_amx: return true;
    default: return false;
  }
}

}  // namespace rerankd::cpu
