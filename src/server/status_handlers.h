#pragma once
// GET /health, /info and /metrics: the operational endpoints, answered on the spot.
#include <cstdint>
#include <optional>
#include <string>

#include "common/metrics.h"
#include "engine/scheduler.h"
#include "server/http_types.h"
#include "server/server_options.h"

namespace rerankd::server {

// What /info reports, gathered once at startup (the model belongs to the compute thread after).
struct ServerFacts {
  std::string model_dir;
  std::string model_id;  // the model directory's name
  std::string model_type;
  std::string architecture;
  std::string dtype;      // as stored in the checkpoint
  std::string precision;  // as computed by the backend
  std::string backend;  // "cpu", "cuda"
  std::string device;   // the backend's device: "cpu", "cuda:0"
  std::string backend_description;  // ISA, kernels in use
  std::string precision_reason;     // why the dtype resolved to `precision`
  size_t max_input_length = 0;  // tokens per pair, special tokens included
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int threads = 0;
};

// The /info body: the model's facts, the server's limits (the options the server runs with) and
// the batch size in force with the throughput it was chosen from.
// `cache`: the score cache's counts, when it is on.
std::string info_body(const ServerFacts& facts, const ServerOptions& options, const BatchingState& batching,
                      const std::optional<ScoreCache::Stats>& cache);

// 200 {"status": "ok"} when the compute thread runs and the server admits work; 503 otherwise.
HttpResponse health_response(const Scheduler& scheduler);
HttpResponse info_response(const std::string& body);
HttpResponse metrics_response(const MetricsRegistry& registry);

}  // namespace rerankd::server
