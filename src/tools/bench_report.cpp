#include "tools/bench_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "client/http_error.h"
#include "common/error.h"
#include "common/json_writer.h"

namespace rerankd::tools {

namespace {

// "queue full: 260358 tokens waiting" and "queue full: 261389 tokens waiting" are one kind of
// error: runs of digits become '#' so the report groups them.
std::string without_numbers(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] >= '0' && text[i] <= '9') {
      if (out.empty() || out.back() != '#') out += '#';
    } else {
      out += text[i];
    }
  }
  return out;
}

}  // namespace

Outcome classify(std::exception_ptr error, std::string* message) {
  if (!error) return Outcome::kOk;
  try {
    std::rethrow_exception(error);
  } catch (const client::HttpError& e) {
    *message = std::to_string(e.status()) + (e.error_type().empty() ? "" : " " + e.error_type()) + ": " +
               without_numbers(e.server_message());
    if (e.status() == 429) return Outcome::kRejected;
    return e.kind() == Error::Kind::kTimeout ? Outcome::kTimeout : Outcome::kFailed;
  } catch (const Error& e) {
    *message = e.what();
    return e.kind() == Error::Kind::kTimeout ? Outcome::kTimeout : Outcome::kFailed;
  } catch (const std::exception& e) {
    *message = e.what();
  } catch (...) {
    *message = "unknown error";
  }
  return Outcome::kFailed;
}

void BenchRecorder::on_sent() {
  std::lock_guard lock(mutex_);
  ++counts_.sent;
}

void BenchRecorder::on_finished(Outcome outcome, double latency_seconds, size_t pairs, const std::string& message) {
  std::lock_guard lock(mutex_);
  switch (outcome) {
    case Outcome::kOk:
      ++counts_.ok;
      counts_.ok_pairs += pairs;
      latencies_.push_back(latency_seconds);
      return;
    case Outcome::kRejected:
      ++counts_.rejected;
      rejected_latencies_.push_back(latency_seconds);
      break;
    case Outcome::kTimeout: ++counts_.timeout; break;
    case Outcome::kFailed: ++counts_.failed; break;
  }
  constexpr size_t kMaxMessage = 200;
  std::string key = message.substr(0, kMaxMessage);
  if (errors_.size() >= kMaxDistinctErrors && errors_.find(key) == errors_.end()) key = "(other errors)";
  ++errors_[key];
}

BenchCounts BenchRecorder::counts() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

std::vector<double> BenchRecorder::take_recent() {
  std::lock_guard lock(mutex_);
  std::vector<double> out(latencies_.begin() + static_cast<std::ptrdiff_t>(recent_from_), latencies_.end());
  recent_from_ = latencies_.size();
  return out;
}

std::vector<double> BenchRecorder::latencies() const {
  std::lock_guard lock(mutex_);
  return latencies_;
}

std::vector<double> BenchRecorder::rejected_latencies() const {
  std::lock_guard lock(mutex_);
  return rejected_latencies_;
}

std::map<std::string, uint64_t> BenchRecorder::errors() const {
  std::lock_guard lock(mutex_);
  return errors_;
}

LatencySummary summarize(std::vector<double> v) {
  LatencySummary s;
  s.count = v.size();
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
  };
  s.p50 = at(0.50);
  s.p90 = at(0.90);
  s.p99 = at(0.99);
  s.p999 = at(0.999);
  s.max = v.back();
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  return s;
}

namespace {

double per_second(double n, double seconds) { return seconds > 0 ? n / seconds : 0.0; }

std::string format(const char* fmt, double v) {
  char text[64];
  std::snprintf(text, sizeof text, fmt, v);
  return text;
}

std::string ms(double seconds) { return format("%.1f", seconds * 1000.0); }

}  // namespace

double BenchReport::ok_per_second() const {
  if (throughput_seconds > 0) return per_second(static_cast<double>(throughput_ok), throughput_seconds);
  return per_second(static_cast<double>(counts.ok), window_seconds);
}
double BenchReport::pairs_per_second() const {
  if (throughput_seconds > 0) return per_second(static_cast<double>(throughput_ok_pairs), throughput_seconds);
  return per_second(static_cast<double>(counts.ok_pairs), window_seconds);
}
double BenchReport::sent_per_second() const { return per_second(static_cast<double>(counts.sent), window_seconds); }

std::string report_json(const BenchReport& r) {
  JsonWriter w;
  w.begin_object();
  w.key("mode").value(std::string_view(r.mode));
  if (r.mode == "closed") {
    w.key("concurrency").value(static_cast<uint64_t>(r.concurrency));
  } else {
    w.key("rate").value(r.rate);
  }
  w.key("urls").begin_array();
  for (const auto& u : r.urls) w.value(std::string_view(u));
  w.end_array();
  w.key("warmup_s").value(r.warmup_seconds);
  w.key("duration_s").value(r.window_seconds);
  w.key("sent").value(r.counts.sent);
  w.key("ok").value(r.counts.ok);
  w.key("rejected").value(r.counts.rejected);
  w.key("timeout").value(r.counts.timeout);
  w.key("failed").value(r.counts.failed);
  w.key("rejected_share").value(r.counts.sent > 0 ? static_cast<double>(r.counts.rejected) / static_cast<double>(r.counts.sent) : 0.0);
  w.key("latency_ms").begin_object();
  w.key("count").value(static_cast<uint64_t>(r.latency.count));
  w.key("p50").value(r.latency.p50 * 1000);
  w.key("p90").value(r.latency.p90 * 1000);
  w.key("p99").value(r.latency.p99 * 1000);
  w.key("p99_9").value(r.latency.p999 * 1000);
  w.key("max").value(r.latency.max * 1000);
  w.key("mean").value(r.latency.mean * 1000);
  w.end_object();
  w.key("rejected_latency_ms").begin_object();
  w.key("count").value(static_cast<uint64_t>(r.rejected_latency.count));
  w.key("p50").value(r.rejected_latency.p50 * 1000);
  w.key("p99").value(r.rejected_latency.p99 * 1000);
  w.key("max").value(r.rejected_latency.max * 1000);
  w.end_object();
  w.key("sent_per_s").value(r.sent_per_second());
  w.key("requests_per_s").value(r.ok_per_second());
  w.key("pairs_per_s").value(r.pairs_per_second());
  w.key("client").begin_object();
  w.key("connections_opened").value(r.connections_opened);
  w.key("retries").value(r.retries);
  w.end_object();
  w.key("errors").begin_object();
  for (const auto& [message, count] : r.errors) w.key(message).value(count);
  w.end_object();
  w.end_object();
  return w.take();
}

std::string report_table(const BenchReport& r) {
  std::string out;
  char line[256];
  if (r.mode == "closed") {
    std::snprintf(line, sizeof line, "rerankd bench: closed loop, %zu callers, %zu endpoint%s, %.1f s measured\n",
                  r.concurrency, r.urls.size(), r.urls.size() == 1 ? "" : "s", r.window_seconds);
  } else {
    std::snprintf(line, sizeof line, "rerankd bench: open loop, %.1f req/s Poisson, %zu endpoint%s, %.1f s measured\n",
                  r.rate, r.urls.size(), r.urls.size() == 1 ? "" : "s", r.window_seconds);
  }
  out += line;
  out += "\n";
  std::snprintf(line, sizeof line, "  %-12s %10s %10s %10s %10s %10s\n", "requests", "sent", "ok", "rejected", "timed out",
                "failed");
  out += line;
  std::snprintf(line, sizeof line, "  %-12s %10llu %10llu %10llu %10llu %10llu\n", "",
                static_cast<unsigned long long>(r.counts.sent), static_cast<unsigned long long>(r.counts.ok),
                static_cast<unsigned long long>(r.counts.rejected), static_cast<unsigned long long>(r.counts.timeout),
                static_cast<unsigned long long>(r.counts.failed));
  out += line;
  out += "\n";
  std::snprintf(line, sizeof line, "  %-12s %10s %10s %10s %10s %10s\n", "latency (ok)", "p50", "p90", "p99", "p99.9",
                "max");
  out += line;
  std::snprintf(line, sizeof line, "  %-12s %10s %10s %10s %10s %10s\n", "  ms", ms(r.latency.p50).c_str(),
                ms(r.latency.p90).c_str(), ms(r.latency.p99).c_str(), ms(r.latency.p999).c_str(),
                ms(r.latency.max).c_str());
  out += line;
  out += "\n";
  std::snprintf(line, sizeof line, "  %-12s %10.1f req/s ok   %10.1f pairs/s   (%.1f req/s sent)\n", "throughput",
                r.ok_per_second(), r.pairs_per_second(), r.sent_per_second());
  out += line;
  std::snprintf(line, sizeof line, "  %-12s %10llu connections opened, %llu retries\n", "client",
                static_cast<unsigned long long>(r.connections_opened), static_cast<unsigned long long>(r.retries));
  out += line;
  if (!r.errors.empty()) {
    out += "\n  errors\n";
    for (const auto& [message, count] : r.errors) {
      std::snprintf(line, sizeof line, "  %10llu  ", static_cast<unsigned long long>(count));
      out += line + message + "\n";
    }
  }
  return out;
}

std::string progress_line(double elapsed_seconds, const BenchCounts& c, double ok_per_second,
                          const LatencySummary& recent) {
  char line[256];
  std::snprintf(line, sizeof line,
                "%7.1fs  sent %llu  ok %llu  429 %llu  timeout %llu  failed %llu | %.1f req/s  p50 %s ms  p99 %s ms",
                elapsed_seconds, static_cast<unsigned long long>(c.sent), static_cast<unsigned long long>(c.ok),
                static_cast<unsigned long long>(c.rejected), static_cast<unsigned long long>(c.timeout),
                static_cast<unsigned long long>(c.failed), ok_per_second, ms(recent.p50).c_str(),
                ms(recent.p99).c_str());
  return line;
}

}  // namespace rerankd::tools
