#pragma once
// GET /health, /info and /metrics: the operational endpoints, answered on the spot.
#include <string>

#include "common/metrics.h"
#include "server/http_types.h"
#include "server/served_models.h"
#include "server/server_options.h"

namespace rerankd::server {

// The /info body: the default model's facts at the top level (as TEI's /info), the server's limits
// (the options the server runs with), and every model served with its own batch size in force,
// the throughput it was chosen from and its score cache.
std::string info_body(const ServedModels& models, const ServerOptions& options);

// 200 {"status": "ok"} when every model's compute thread runs and the server admits work; 503
// otherwise.
HttpResponse health_response(const ServedModels& models);
HttpResponse info_response(const std::string& body);
HttpResponse metrics_response(const MetricsRegistry& registry);

}  // namespace rerankd::server
