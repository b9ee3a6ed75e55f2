#pragma once
// What `rerankd bench` counts and how it reports it: every request ends in exactly one outcome
// (ok, rejected with 429, timed out, failed); latency percentiles are over ok requests, measured
// from the moment the request was due to be sent (open loop: its scheduled arrival; closed loop:
// when its caller was ready), so queueing anywhere, client side included, is in the number.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace rerankd::tools {

enum class Outcome { kOk, kRejected, kTimeout, kFailed };

// 429 -> rejected; a client deadline, or the server's 504/408 -> timed out; anything else -> failed.
// The message, for everything but ok, is what the report groups errors by: "429 overloaded: queue
// full: # tokens waiting (limit #)" for an answer, the client's message for a transport failure.
Outcome classify(std::exception_ptr error, std::string* message);

struct BenchCounts {
  uint64_t sent = 0, ok = 0, rejected = 0, timeout = 0, failed = 0;
  uint64_t ok_pairs = 0;
  uint64_t finished() const { return ok + rejected + timeout + failed; }
};

// Thread-safe: completions arrive on the client's I/O threads, the progress line reads from main.
class BenchRecorder {
 public:
  void on_sent();
  void on_finished(Outcome outcome, double latency_seconds, size_t pairs, const std::string& message);

  BenchCounts counts() const;
  // Latencies (seconds) of ok requests finished since the previous call, for the live line.
  std::vector<double> take_recent();
  std::vector<double> latencies() const;
  // Of 429s: a refusal is only useful if it comes at once.
  std::vector<double> rejected_latencies() const;
  std::map<std::string, uint64_t> errors() const;

 private:
  static constexpr size_t kMaxDistinctErrors = 20;
  mutable std::mutex mutex_;
  BenchCounts counts_;
  std::vector<double> latencies_;
  std::vector<double> rejected_latencies_;
  size_t recent_from_ = 0;
  std::map<std::string, uint64_t> errors_;
};

struct LatencySummary {
  size_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0, mean = 0;  // seconds
};
// Nearest-rank percentiles (the value at rank ceil(q * n)), so every figure is a latency that was
// observed. Zeroes when empty.
LatencySummary summarize(std::vector<double> seconds);

struct BenchReport {
  std::string mode;  // "closed" or "open"
  size_t concurrency = 0;
  double rate = 0;   // open loop: the offered arrival rate, req/s
  std::vector<std::string> urls;
  double warmup_seconds = 0;
  double window_seconds = 0;  // measured: from the end of warm-up to the last measured answer
  // Throughput counts the answers that arrived during the --duration window, whenever sent. The
  // requests *sent* in the window are what latency and outcomes describe, but dividing their pairs
  // by window_seconds would understate a closed loop's rate by about latency / (duration +
  // latency): the window opens with warm-up requests still on the server and ends with a ramp-down.
  // Zero throughput_seconds (a --requests bound, an interrupted run): fall back to that ratio.
  double throughput_seconds = 0;
  uint64_t throughput_ok = 0, throughput_ok_pairs = 0;
  BenchCounts counts;
  LatencySummary latency;
  LatencySummary rejected_latency;  // of the 429s
  uint64_t connections_opened = 0, retries = 0;
  std::map<std::string, uint64_t> errors;

  double ok_per_second() const;
  double pairs_per_second() const;
  double sent_per_second() const;
};

std::string report_json(const BenchReport& report);
std::string report_table(const BenchReport& report);
// One line, no newline: "  12.0s  sent 1234  ok 1200  429 30  timeout 0  failed 4 | 120.0 req/s ..."
std::string progress_line(double elapsed_seconds, const BenchCounts& counts, double ok_per_second,
                          const LatencySummary& recent);

}  // namespace rerankd::tools
