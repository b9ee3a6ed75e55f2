#pragma once
// Our loop kernels are compiled three times from one body, for AVX-512, AVX2 + FMA and baseline
// x86-64, and each call picks one by kernel_isa() (cpu_isa.h): the level the CPU has, capped by
// ONEDNN_MAX_CPU_ISA like oneDNN itself. GCC's target_clones would pick by the CPU alone, and the
// suite must be able to run every level on whatever machine it is on.
//
//   RERANKD_KERNEL_BODY void scale_row_body(float* x, int64_t n) { ... }
//   RERANKD_MULTIVERSION(void, scale_row, (float* x, int64_t n), (x, n))
//
// defines scale_row(). The body is force-inlined into each variant so GCC vectorizes it for that
// variant's target; anything it calls that is not inlined runs as baseline code, which is slower
// but correct on every CPU (never an instruction the CPU lacks).
#include "kernels/cpu/cpu_isa.h"

#define RERANKD_KERNEL_BODY [[gnu::always_inline]] inline

#if defined(__x86_64__) && defined(__GNUC__)
#define RERANKD_TARGET_AVX512 "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,bmi2"
#define RERANKD_TARGET_AVX2 "avx2,fma,bmi2"
#define RERANKD_MULTIVERSION(ret, name, params, args)                                      \
  __attribute__((target(RERANKD_TARGET_AVX512))) ret name##_avx512 params {                \
    return name##_body args;                                                               \
  }                                                                                        \
  __attribute__((target(RERANKD_TARGET_AVX2))) ret name##_avx2 params { return name##_body args; } \
  ret name params {                                                                        \
    switch (::rerankd::cpu::kernel_isa()) {                                                \
      case ::rerankd::cpu::KernelIsa::kAvx512: return name##_avx512 args;                  \
      case ::rerankd::cpu::KernelIsa::kAvx2: return name##_avx2 args;                      \
      case ::rerankd::cpu::KernelIsa::kBaseline: break;                                    \
    }                                                                                      \
    return name##_body args;                                                               \
  }
#else
#define RERANKD_MULTIVERSION(ret, name, params, args) \
  ret name params { return name##_body args; }
#endif
