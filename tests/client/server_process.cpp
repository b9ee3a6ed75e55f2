#include "server_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace rerankd::testing {

std::filesystem::path rerankd_binary() {
  const char* env = std::getenv("RERANKD_BIN");
  return env != nullptr && *env != '\0' ? std::filesystem::path(env) : std::filesystem::path(RERANKD_DEFAULT_BIN);
}

std::filesystem::path client_testdata_dir() {
  const char* env = std::getenv("RERANKD_TESTDATA");
  return env != nullptr && *env != '\0' ? std::filesystem::path(env) : std::filesystem::path(RERANKD_DEFAULT_TESTDATA);
}

std::filesystem::path test_model(const std::string& name) { return client_testdata_dir() / "models" / name; }

ServerProcess::ServerProcess(const std::vector<std::string>& extra_args) {
  const std::string binary = rerankd_binary().string();
  const std::string model_dir = test_model("tiny").string();
  if (!std::filesystem::exists(binary)) throw std::runtime_error("no rerankd binary at " + binary);
  if (!std::filesystem::exists(model_dir)) throw std::runtime_error("no test model at " + model_dir);

  std::vector<std::string> args = {binary, "serve", "--model", model_dir, "--host", "127.0.0.1", "--port", "0",
                                   "--log-level", "warn"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::close_range(3, ~0U, 0);  // none of the test's sockets may live on in the server
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  stdout_fd_ = pipe_fds[0];

  // Read stdout until the listening line.
  const std::string marker = "listening on 127.0.0.1:";
  std::string seen;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (port_ == 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd fd{stdout_fd_, POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[512];
    const ssize_t n = ::read(stdout_fd_, chunk, sizeof chunk);
    if (n <= 0) break;  // the child exited
    seen.append(chunk, static_cast<size_t>(n));
    const size_t at = seen.find(marker);
    if (at != std::string::npos && seen.find('\n', at) != std::string::npos) {
      port_ = static_cast<uint16_t>(std::atoi(seen.c_str() + at + marker.size()));
    }
  }
  if (port_ == 0) {
    signal_and_wait(SIGKILL);
    ::close(stdout_fd_);
    throw std::runtime_error("rerankd serve did not start listening; its stdout: " + seen);
  }
  drain_ = std::thread([fd = stdout_fd_] {
    char chunk[512];
    while (::read(fd, chunk, sizeof chunk) > 0) {
    }
  });
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) signal_and_wait(SIGKILL);
  if (drain_.joinable()) drain_.join();  // EOF once the child is gone
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
}

int ServerProcess::terminate() { return signal_and_wait(SIGTERM); }
int ServerProcess::kill() { return signal_and_wait(SIGKILL); }

int ServerProcess::signal_and_wait(int signal) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return status;
}

}  // namespace rerankd::testing
