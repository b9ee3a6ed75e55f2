// `rerankd bench` end to end against the real server: its JSON adds up (every request sent has
// exactly one outcome), both loops run within their bounds, and an unreachable URL is an error.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <string>

#include "server_process.h"

namespace rerankd::testing {
namespace {

struct Result {
  int status = -1;
  std::string out;
};

// stdout only, or with stderr merged in (for the error message).
Result run(const std::string& args, bool with_stderr = false) {
  const std::string command = rerankd_binary().string() + " bench " + args + (with_stderr ? " 2>&1" : " 2>/dev/null");
  Result r;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> chunk;
  size_t n;
  while ((n = std::fread(chunk.data(), 1, chunk.size(), pipe)) > 0) r.out.append(chunk.data(), n);
  const int status = ::pclose(pipe);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

uint64_t u(simdjson::dom::element e, const char* key) { return uint64_t(e[key]); }

void expect_consistent(simdjson::dom::element report) {
  EXPECT_EQ(u(report, "sent"), u(report, "ok") + u(report, "rejected") + u(report, "timeout") + u(report, "failed"));
  const auto latency = report["latency_ms"];
  EXPECT_LE(double(latency["p50"]), double(latency["p90"]));
  EXPECT_LE(double(latency["p90"]), double(latency["p99"]));
  EXPECT_LE(double(latency["p99"]), double(latency["p99_9"]));
  EXPECT_LE(double(latency["p99_9"]), double(latency["max"]));
}

class BenchCommand : public SharedServerTest {};

TEST_F(BenchCommand, ClosedLoopCountsAddUp) {
  const Result r = run("--url " + server_->url() +
                       " --concurrency 4 --requests 60 --docs-per-request 4 --doc-tokens 20 --json -");
  ASSERT_EQ(r.status, 0) << r.out;
  simdjson::dom::parser parser;
  const simdjson::dom::element report = parser.parse(r.out);
  EXPECT_EQ(std::string_view(report["mode"]), "closed");
  EXPECT_EQ(u(report, "sent"), 60u);
  EXPECT_EQ(u(report, "ok"), 60u);
  expect_consistent(report);
  EXPECT_GT(double(report["requests_per_s"]), 0.0);
  EXPECT_NEAR(double(report["pairs_per_s"]), 4 * double(report["requests_per_s"]), 1e-6);
  EXPECT_LE(u(report["client"], "connections_opened"), 4u);
}

TEST_F(BenchCommand, OpenLoopRunsForItsDuration) {
  const auto start = std::chrono::steady_clock::now();
  const Result r = run("--url " + server_->url() +
                       " --rate 40 --duration 1.5 --api cohere --docs-per-request 2 --doc-tokens 10 --json -");
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(r.status, 0) << r.out;
  simdjson::dom::parser parser;
  const simdjson::dom::element report = parser.parse(r.out);
  EXPECT_EQ(std::string_view(report["mode"]), "open");
  expect_consistent(report);
  EXPECT_GT(u(report, "sent"), 20u);   // ~60 expected; Poisson
  EXPECT_LT(u(report, "sent"), 120u);
  EXPECT_LT(elapsed, 10.0);
}

TEST_F(BenchCommand, RequestsFileIsSent) {
  // Per process: the same test may run at once from another build directory on this machine.
  const std::string file = ::testing::TempDir() + "bench_requests-" + std::to_string(::getpid()) + ".jsonl";
  {
    std::FILE* f = std::fopen(file.c_str(), "w");
    std::fputs("{\"query\": \"a\", \"texts\": [\"x\", \"y\", \"z\"]}\n\n{\"query\": \"b\", \"texts\": [\"w\"]}\n", f);
    std::fclose(f);
  }
  const Result r = run("--url " + server_->url() + " --requests-file " + file + " --requests 10 -c 2 --json -");
  ASSERT_EQ(r.status, 0) << r.out;
  simdjson::dom::parser parser;
  const simdjson::dom::element report = parser.parse(r.out);
  EXPECT_EQ(u(report, "ok"), 10u);
  expect_consistent(report);
  std::remove(file.c_str());
}

TEST(BenchCommandNoServer, UnreachableUrlIsAnError) {
  const Result r = run("--url http://127.0.0.1:1 --requests 5 --json -", /*with_stderr=*/true);
  EXPECT_EQ(r.status, 1) << r.out;  // the command's own error exit: not 127 (no binary) or a crash
  EXPECT_NE(r.out.find("127.0.0.1:1"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace rerankd::testing
