#pragma once
// The real `rerankd serve` as a child process on 127.0.0.1 with a kernel-chosen port, for the
// client tests. The port is read from the "rerankd: listening on 127.0.0.1:PORT" line.
#include <gtest/gtest.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace rerankd::testing {

std::filesystem::path rerankd_binary();          // $RERANKD_BIN, or the build's
std::filesystem::path client_testdata_dir();     // $RERANKD_TESTDATA, or the build's
std::filesystem::path test_model(const std::string& name);  // <testdata>/models/<name>

class ServerProcess {
 public:
  // Starts `rerankd serve --model <tiny> --host 127.0.0.1 --port 0 <extra...>` and waits for it
  // to listen. Throws std::runtime_error when it exits or does not listen within 60 s.
  explicit ServerProcess(const std::vector<std::string>& extra_args = {});
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // SIGTERM (the server drains) or SIGKILL, then waits for the exit. Returns the wait status.
  int terminate();
  int kill();

 private:
  int signal_and_wait(int signal);

  pid_t pid_ = -1;
  uint16_t port_ = 0;
  int stdout_fd_ = -1;
  std::thread drain_;  // keeps reading stdout so the child never blocks on a full pipe
};

// A test suite whose tests share one `rerankd serve` (tiny model), started before the suite's
// first test and stopped after its last.
class SharedServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new ServerProcess(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static inline ServerProcess* server_ = nullptr;
};

}  // namespace rerankd::testing
