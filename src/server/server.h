#pragma once
// `rerankd serve` assembled: the model, the scheduler, the routes and the HTTP transport on one
// io_context, plus the shutdown sequence. SIGTERM/SIGINT start a drain: stop accepting, refuse
// new work (/health turns 503), let admitted requests finish and their answers be written, then
// stop — or stop anyway when the drain timeout passes. A second signal stops at once.
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include <memory>
#include <string>
#include <vector>

#include "common/metrics.h"
#include "server/api_keys.h"
#include "server/client_identity.h"
#include "server/http_server.h"
#include "server/rate_limiter.h"
#include "server/rerank_handler.h"
#include "server/routes.h"
#include "server/served_models.h"
#include "server/server_metrics.h"
#include "server/server_options.h"
#include "server/status_handlers.h"

namespace rerankd::server {

class RerankServer : private HttpHandler {
 public:
  // Loads the models and starts their schedulers; throws Error if any fails. The first model is
  // the default: requests that name none go to it.
  RerankServer(const std::vector<ModelSpec>& models, const ServerOptions& options);
  ~RerankServer() override;

  // Binds, prints "rerankd: listening on HOST:PORT" to stdout, and serves until a signal and the
  // drain that follows. Returns the process exit status.
  int run();

 private:
  std::optional<HttpResponse> screen(const HttpRequest& header, const asio::ip::address& peer) noexcept override;
  void handle(const std::shared_ptr<Exchange>& exchange) override;
  void completed(const Exchange& exchange, const HttpResponse& response) noexcept override;

  void wait_for_signal();
  void begin_drain(int signal);
  void poll_drain();
  void stop();

  ServerOptions options_;
  MetricsRegistry registry_;
  ServerMetrics metrics_;
  ApiKeys api_keys_;
  ClientIdentities identities_;
  RateLimiter rate_limiter_;
  ServedModels models_;
  // Declared after everything that pending handlers may reference, so that ~io_context (which
  // destroys those handlers) runs while it all still exists.
  asio::io_context ioc_;
  RerankHandler rerank_;
  Router router_;
  HttpServer http_;
  asio::strand<asio::io_context::executor_type> control_;  // signals and the drain run here
  asio::signal_set signals_;
  asio::steady_timer drain_timer_;
  Clock::time_point drain_deadline_{};
  bool draining_ = false;
  bool abandoned_answered_ = false;  // the drain timed out and the requests left were answered 503
  static constexpr std::chrono::seconds kAnswerWriteGrace{2};
  static constexpr std::chrono::minutes kWarmUpWait{10};
};

}  // namespace rerankd::server
