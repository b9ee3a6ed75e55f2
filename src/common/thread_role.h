#pragma once
// Names each thread after its job (what `top -H`, /proc/PID/task/*/comm, gdb and perf show) and
// gives the threads that only feed the model a lower CPU priority than the model's own. On a small
// machine the io and tokenizer threads share cores with the forward pass; under a flood of
// requests the server would otherwise spend the model's CPU refusing work (docs/architecture.md,
// "CPU priorities"). A lower priority costs them nothing while the model is idle.
namespace rerankd {

enum class ThreadRole {
  kIo,         // network: reads, parses and answers requests ("rerankd-io")
  kTokenizer,  // encodes and admits requests ("rerankd-tok")
  kCompute,    // the backend worker: runs forward passes ("rerankd-model")
};

// Sets the calling thread's name and, on Linux, its nice value: the compute thread keeps the
// process's, the others run `offset` steps above it (lower priority). Raising the nice value needs
// no privilege; failures (a sandbox that forbids it) are ignored: priority is a preference, and
// the server is correct without it.
void set_thread_role(ThreadRole role, int offset);

// The nice steps the io and tokenizer threads run above the compute thread by default
// (--feeder-nice): measured on 2 cores, docs/architecture.md.
inline constexpr int kDefaultFeederNice = 10;

}  // namespace rerankd
