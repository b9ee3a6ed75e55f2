#include "common/thread_role.h"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace rerankd {

void set_thread_role(ThreadRole role, int offset) {
  const char* name = "rerankd";
  switch (role) {
    case ThreadRole::kIo: name = "rerankd-io"; break;
    case ThreadRole::kTokenizer: name = "rerankd-tok"; break;
    case ThreadRole::kCompute: name = "rerankd-model"; break;
  }
  pthread_setname_np(pthread_self(), name);  // at most 15 characters; ours are shorter
  if (role == ThreadRole::kCompute || offset <= 0) return;
  // Linux's nice value is per thread (PRIO_PROCESS with a thread id): relative to the process's,
  // so a server started under `nice` keeps its feeders below its model all the same.
  const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
  errno = 0;
  const int base = ::getpriority(PRIO_PROCESS, 0);
  if (errno != 0) return;
  ::setpriority(PRIO_PROCESS, tid, base + offset);  // ignored on failure: see the header
}

}  // namespace rerankd
