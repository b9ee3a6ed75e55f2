#pragma once
// The CPU's topology, as the CPU backend sizes its thread pool from it.
namespace rerankd::cpu {

// Physical cores of this machine (hyper-threads excluded), from /proc/cpuinfo; at least 1.
int physical_cores();

}  // namespace rerankd::cpu
