#pragma once
// The rerank endpoints' life cycle: parse, submit to the scheduler, and answer exactly once with
// whichever comes first — the scores, the scheduler's error, the deadline (a timer on the
// connection's strand cancels the ticket) or the client hanging up (the ticket is cancelled so
// its pairs never reach the model).
#include <memory>
#include <string>

#include "engine/scheduler.h"
#include "server/http_server.h"
#include "server/rerank_api.h"
#include "server/server_metrics.h"
#include "server/server_options.h"

namespace rerankd::server {

class RerankHandler {
 public:
  RerankHandler(Scheduler& scheduler, ServerMetrics& metrics, const ServerOptions& options, std::string model_name);

  // parse: parse_tei_request (POST /rerank) or parse_cohere_request (POST /v1/rerank, /v2/rerank).
  using RequestParser = RerankRequest (*)(std::string_view body, size_t max_documents);
  void handle(const std::shared_ptr<Exchange>& exchange, RequestParser parse);

 private:
  struct Call;
  void run(const std::shared_ptr<Exchange>& exchange, RerankRequest request);
  void finish(Call& call, RerankResult result);
  void respond_error(Exchange& exchange, const Error& error);
  Clock::time_point deadline(const Exchange& exchange) const;

  Scheduler& scheduler_;
  ServerMetrics& metrics_;
  const ServerOptions& options_;
  std::string model_name_;
};

}  // namespace rerankd::server
