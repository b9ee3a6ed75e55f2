#pragma once
// RERANKD_MULTIVERSION: compile a plain loop kernel for AVX-512, AVX2 and baseline x86-64 and pick
// one at load time, so one binary uses the widest vectors the CPU has. Off under the sanitizers,
// whose runtimes do not support the ifunc resolvers target_clones needs.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
#define RERANKD_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RERANKD_MULTIVERSION
#endif
