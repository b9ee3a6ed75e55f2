#pragma once
// The rerank endpoints' life cycle: parse, pick the model the request names, submit to its
// scheduler, and answer exactly once with whichever comes first — the scores, the scheduler's
// error, the deadline (a timer on the connection's strand cancels the ticket) or the client
// hanging up (the ticket is cancelled so its pairs never reach the model).
#include <memory>
#include <string>

#include "engine/scheduler.h"
#include "server/client_identity.h"
#include "server/http_server.h"
#include "server/rate_limiter.h"
#include "server/served_models.h"
#include "server/rerank_api.h"
#include "server/server_metrics.h"
#include "server/server_options.h"

namespace rerankd::server {

class RerankHandler {
 public:
  RerankHandler(ServedModels& models, ServerMetrics& metrics, const ServerOptions& options,
                const ClientIdentities& identities, RateLimiter& rate_limiter);

  // Before the body is read (HttpHandler::screen): the refusal a rerank request from `tenant`
  // would get whatever its body says, or nullopt. Only where the model is known without the body
  // (one model served).
  std::optional<HttpResponse> screen(const HttpRequest& header, std::string_view tenant);

  // parse: parse_tei_request (POST /rerank) or parse_cohere_request (POST /v1/rerank, /v2/rerank).
  using RequestParser = RerankRequest (*)(std::string_view body, size_t max_documents);
  void handle(const std::shared_ptr<Exchange>& exchange, RequestParser parse);

 private:
  struct Call;
  void run(const std::shared_ptr<Exchange>& exchange, RerankRequest request);
  void finish(Call& call, RerankResult result);
  static HttpResponse error_answer(const Error& error, const Scheduler* scheduler);
  // X-Request-Timeout, or the server's default, from when the request was received.
  Clock::time_point deadline(const HttpRequest& request, SteadyClock::time_point received) const;

  ServedModels& models_;
  ServerMetrics& metrics_;
  const ServerOptions& options_;
  const ClientIdentities& identities_;
  RateLimiter& rate_limiter_;
};

}  // namespace rerankd::server
