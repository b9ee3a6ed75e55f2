#include "tools/bench_command.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <thread>

#include "client/rerank_client.h"
#include "common/error.h"
#include "tools/bench_report.h"
#include "tools/bench_workload.h"

#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>

namespace rerankd::tools {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

std::atomic<bool> g_interrupted{false};
void on_interrupt(int) { g_interrupted.store(true); }

struct BenchArgs {
  std::vector<std::string> urls;
  size_t concurrency = 0;
  double rate = 0;
  double duration = 0;
  uint64_t requests = 0;
  double warmup = 0;
  std::string api = "tei";
  SyntheticWorkload workload;
  std::string requests_file;
  std::string path;
  double timeout = 30;
  size_t connections = 0;
  int retries = 0;
  int client_threads = 1;
  bool skip_health_check = false;
  std::string json;
  std::string api_key;
};

// One run's shared state. Drivers (closed-loop callers, or the open-loop arrival clock) take
// tickets; every request issued ends in exactly one recorded outcome.
struct Run {
  Run(client::RerankClient& c, const std::vector<BenchRequest>& r) : client(c), requests(r) {}

  client::RerankClient& client;
  const std::vector<BenchRequest>& requests;
  BenchRecorder recorder;
  Clock::time_point start, measure_from, end;
  uint64_t max_requests = 0;  // measured requests; 0: no bound

  std::atomic<uint64_t> measured_issued{0}, next_body{0};
  std::atomic<int64_t> outstanding{0}, drivers{0};
  std::atomic<int64_t> last_finish{0};  // ns since start, of the last measured answer
  // Successful answers that arrived inside [measure_from, end), whenever they were sent: the
  // throughput figure, free of the ramp-down after `end` (see BenchReport).
  std::atomic<uint64_t> window_ok{0}, window_ok_pairs{0};

  // Whether a request due at `when` may go out (nullopt: the run is over) and whether it counts.
  std::optional<bool> ticket(Clock::time_point when) {
    if (when >= end || g_interrupted.load()) return std::nullopt;
    const bool measured = when >= measure_from;
    if (measured && max_requests > 0 && measured_issued.fetch_add(1) >= max_requests) return std::nullopt;
    return measured;
  }
  const BenchRequest& next_request() { return requests[next_body.fetch_add(1) % requests.size()]; }
  bool done() const { return drivers.load() == 0 && outstanding.load() == 0; }
};

asio::awaitable<void> send_one(Run& run, const BenchRequest& request, Clock::time_point due, bool measured) {
  if (measured) run.recorder.on_sent();
  std::exception_ptr error;
  // A named CallOptions, not `{}`: GCC 12 miscompiles an aggregate temporary with string members
  // inside a co_await expression (see docs/client.md).
  const client::CallOptions call;
  try {
    co_await run.client.async_post(request.path, request.body, call, asio::use_awaitable);
  } catch (...) {
    error = std::current_exception();
  }
  const Clock::time_point finished = Clock::now();
  std::string message;
  const Outcome outcome = classify(error, &message);
  if (outcome == Outcome::kOk && finished >= run.measure_from && finished < run.end) {
    ++run.window_ok;
    run.window_ok_pairs += request.pairs;
  }
  if (measured) {
    run.recorder.on_finished(outcome, Seconds(finished - due).count(), request.pairs, message);
    const int64_t at = std::chrono::duration_cast<std::chrono::nanoseconds>(finished - run.start).count();
    int64_t seen = run.last_finish.load();
    while (at > seen && !run.last_finish.compare_exchange_weak(seen, at)) {
    }
  }
  --run.outstanding;
}

// Closed loop: a caller sends, waits for the answer, sends again. Latency is from send.
asio::awaitable<void> closed_loop_caller(Run& run) {
  for (;;) {
    const Clock::time_point now = Clock::now();
    const std::optional<bool> measured = run.ticket(now);
    if (!measured) break;
    ++run.outstanding;
    co_await send_one(run, run.next_request(), now, *measured);
  }
  --run.drivers;
}

// Open loop: arrivals on a Poisson schedule whatever the server does; each request's latency is
// from its scheduled arrival, so a send delayed by the client or the server's backlog counts.
asio::awaitable<void> open_loop_arrivals(Run& run, double rate, uint64_t seed) {
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> gap(rate);
  Clock::time_point due = run.start;
  for (;;) {
    due += std::chrono::duration_cast<Clock::duration>(Seconds(gap(rng)));
    const std::optional<bool> measured = run.ticket(due);
    if (!measured) break;
    timer.expires_at(due);
    boost::system::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    ++run.outstanding;
    asio::co_spawn(executor, send_one(run, run.next_request(), due, *measured), asio::detached);
  }
  --run.drivers;
}

void check_health(const std::string& url, double timeout) {
  client::ClientOptions o;
  o.urls = {url};
  o.retry.max_attempts = 1;
  o.request_timeout = std::chrono::milliseconds(static_cast<int64_t>(std::min(timeout, 10.0) * 1000));
  client::RerankClient probe(o);
  try {
    probe.get("/health");
  } catch (const Error& e) {
    throw Error(Error::Kind::kUnavailable, "the server at " + url + " is not ready: " + e.what() +
                                               " (--skip-health-check to send anyway)");
  }
}

int run_bench(BenchArgs args) {
  using Kind = Error::Kind;
  if (args.urls.empty()) throw Error(Kind::kInvalidInput, "give the server with --url");
  if (args.concurrency > 0 && args.rate > 0) {
    throw Error(Kind::kInvalidInput, "--concurrency (closed loop) and --rate (open loop) are exclusive");
  }
  const bool open_loop = args.rate > 0;
  if (!open_loop && args.concurrency == 0) args.concurrency = 8;
  if (args.duration <= 0 && args.requests == 0) args.duration = 10;
  if (args.timeout <= 0) throw Error(Kind::kInvalidInput, "--timeout must be positive");

  if (args.api == "tei") {
    args.workload.api = BenchApi::kTei;
  } else if (args.api == "plain") {
    args.workload.api = BenchApi::kPlain;
  } else {
    args.workload.api = BenchApi::kCohere;
  }
  const std::vector<BenchRequest> requests =
      args.requests_file.empty()
          ? synthetic_requests(args.workload)
          : read_requests_file(args.requests_file, args.path.empty() ? bench_path(args.workload.api) : args.path);

  if (!args.skip_health_check) {
    for (const auto& url : args.urls) check_health(url, args.timeout);
  }

  client::ClientOptions options;
  options.urls = args.urls;
  options.api_key = args.api_key;
  options.max_connections_per_endpoint = args.connections > 0 ? args.connections : (open_loop ? 512 : args.concurrency);
  options.request_timeout = std::chrono::milliseconds(static_cast<int64_t>(args.timeout * 1000));
  options.retry.max_attempts = 1 + std::max(0, args.retries);
  options.io_threads = std::max(1, args.client_threads);
  client::RerankClient client(options);

  Run run(client, requests);
  run.start = Clock::now();
  run.measure_from = run.start + std::chrono::duration_cast<Clock::duration>(Seconds(std::max(0.0, args.warmup)));
  run.end = args.duration > 0 ? run.measure_from + std::chrono::duration_cast<Clock::duration>(Seconds(args.duration))
                              : Clock::time_point::max();
  run.max_requests = args.requests;

  g_interrupted.store(false);
  const auto previous_handler = std::signal(SIGINT, on_interrupt);

  const asio::any_io_executor executor = client.get_executor();
  if (open_loop) {
    run.drivers = 1;
    asio::co_spawn(executor, open_loop_arrivals(run, args.rate, args.workload.seed + 1), asio::detached);
  } else {
    run.drivers = static_cast<int64_t>(args.concurrency);
    for (size_t i = 0; i < args.concurrency; ++i) asio::co_spawn(executor, closed_loop_caller(run), asio::detached);
  }

  const bool live = isatty(STDERR_FILENO) != 0;
  Clock::time_point next_line = Clock::now() + std::chrono::seconds(1);
  BenchCounts previous;
  Clock::time_point previous_at = run.measure_from;
  while (!run.done()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const Clock::time_point now = Clock::now();
    if (live && now >= next_line) {
      const BenchCounts c = run.recorder.counts();
      const double span = Seconds(now - std::max(previous_at, run.start)).count();
      const double rate = span > 0 ? static_cast<double>(c.ok - previous.ok) / span : 0.0;
      const std::string line = progress_line(Seconds(now - run.start).count(), c, rate,
                                             summarize(run.recorder.take_recent()));
      std::fprintf(stderr, "\r%s\033[K", line.c_str());
      std::fflush(stderr);
      previous = c;
      previous_at = now;
      next_line = now + std::chrono::seconds(1);
    }
  }
  if (live) std::fprintf(stderr, "\r\033[K");
  std::signal(SIGINT, previous_handler);

  BenchReport report;
  report.mode = open_loop ? "open" : "closed";
  report.concurrency = args.concurrency;
  report.rate = args.rate;
  report.urls = args.urls;
  report.warmup_seconds = std::max(0.0, args.warmup);
  report.counts = run.recorder.counts();
  const double measured_span = Seconds(std::chrono::nanoseconds(run.last_finish.load())).count() -
                               Seconds(run.measure_from - run.start).count();
  report.window_seconds = report.counts.finished() > 0 ? std::max(measured_span, 1e-9) : 0.0;
  if (args.duration > 0 && !g_interrupted.load() && Clock::now() >= run.end) {
    report.throughput_seconds = args.duration;
    report.throughput_ok = run.window_ok.load();
    report.throughput_ok_pairs = run.window_ok_pairs.load();
  }
  report.latency = summarize(run.recorder.latencies());
  report.rejected_latency = summarize(run.recorder.rejected_latencies());
  const client::ClientStats stats = client.stats();
  report.connections_opened = stats.connections_opened;
  report.retries = stats.retries;
  report.errors = run.recorder.errors();

  const bool json_to_stdout = args.json == "-";
  const std::string table = report_table(report);
  std::fputs(table.c_str(), json_to_stdout ? stderr : stdout);
  if (!args.json.empty()) {
    const std::string json = report_json(report) + "\n";
    if (json_to_stdout) {
      std::fputs(json.c_str(), stdout);
    } else {
      std::ofstream out(args.json);
      out << json;
      if (!out) throw Error(Kind::kIo, args.json + ": cannot write");
    }
  }
  std::fflush(stdout);
  if (report.counts.sent != report.counts.finished()) {
    throw Error(Kind::kInternal, "bench: " + std::to_string(report.counts.sent) + " sent but " +
                                     std::to_string(report.counts.finished()) + " answered");
  }
  return g_interrupted.load() ? 130 : 0;
}

}  // namespace

void add_bench_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "Load-test a running server: closed loop (--concurrency) or open loop (--rate, Poisson arrivals); "
               "reports ok/429/timeout/failed, latency percentiles, req/s and pairs/s. Needs no model.");
  cmd->add_option("-u,--url", args->urls, "Server URL, e.g. http://127.0.0.1:8080 (repeat to spread over several)")
      ->required();
  cmd->add_option("-c,--concurrency", args->concurrency, "Closed loop: callers each sending one request at a time "
                                                         "(default 8 when --rate is not given)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("-r,--rate", args->rate, "Open loop: requests per second, Poisson-spaced, whatever the latency")
      ->check(CLI::PositiveNumber);
  cmd->add_option("-d,--duration", args->duration, "Seconds to send for, after warm-up (default 10 without --requests)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("-n,--requests", args->requests, "Requests to send (after warm-up); with --duration, whichever ends first");
  cmd->add_option("--warmup", args->warmup, "Seconds of load before measuring; those requests are not counted")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--api", args->api, "Request shape for generated requests: tei (/rerank texts), plain (/rerank "
                                      "documents -> scores), cohere (/v1/rerank)")
      ->check(CLI::IsMember({"tei", "plain", "cohere"}))
      ->capture_default_str();
  cmd->add_option("--docs-per-request", args->workload.docs_per_request, "Documents per generated request")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--doc-tokens", args->workload.doc_words, "Words per generated document (~1.3 tokens each)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--query-words", args->workload.query_words, "Words per generated query")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--distinct", args->workload.distinct, "Different generated bodies, sent in turn")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--model-name", args->workload.model,
                  "The \"model\" field of generated requests: which of the server's models (default: none, the first)");
  cmd->add_option("--seed", args->workload.seed, "Seed for generated text and open-loop arrivals")->capture_default_str();
  cmd->add_option("--requests-file", args->requests_file,
                  "JSONL: one request body per line (instead of generated requests), sent in turn")
      ->check(CLI::ExistingFile);
  cmd->add_option("--path", args->path, "Route for --requests-file bodies (default: from --api)");
  cmd->add_option("--timeout", args->timeout, "Seconds a request may take (sent as X-Request-Timeout); then it counts "
                                              "as timed out")
      ->capture_default_str();
  cmd->add_option("--connections", args->connections,
                  "Connection pool size per endpoint (default: --concurrency; 512 in open loop)");
  cmd->add_option("--retries", args->retries,
                  "Resends of a 429/502/503/504 or refused connection (default 0, so rejections show)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--client-threads", args->client_threads, "Client I/O threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_flag("--skip-health-check", args->skip_health_check, "Do not GET /health on each URL first");
  cmd->add_option("--api-key", args->api_key, "Send 'Authorization: Bearer KEY' (a server with API keys)")
      ->envname("RERANKD_BENCH_API_KEY");
  cmd->add_option("--json", args->json, "Also write the results as JSON to FILE ('-': stdout, the table goes to stderr)");
  cmd->callback([args, &exit_code] { exit_code = run_bench(*args); });
}

}  // namespace rerankd::tools
