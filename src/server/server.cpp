#include "server/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <exception>
#include <mutex>
#include <cstdio>
#include <system_error>
#include <thread>

#include "common/error.h"
#include "common/thread_role.h"
#include "server/access_log.h"
#include "server/error_response.h"
#include "server/static_pages.h"

namespace rerankd::server {
namespace {

// The scheduler's bounds in seconds follow the default deadline unless set on their own.
ServerOptions with_derived_limits(ServerOptions o) {
  o.scheduler.default_timeout_seconds = o.request_timeout_seconds;
  // A request's chunks count against its size limit like documents do.
  o.scheduler.max_pairs_per_request = o.max_client_batch_size;
  for (const TenantSettings& t : o.tenants) o.scheduler.tenant_weights[t.id] = t.weight;
  return o;
}

HttpServerOptions transport_options(const ServerOptions& o) {
  HttpServerOptions t;
  t.host = o.host;
  t.port = o.port;
  t.max_body_bytes = o.max_body_bytes;
  t.io_timeout = std::chrono::seconds(static_cast<int64_t>(std::ceil(o.io_timeout_seconds)));
  return t;
}

// The routes that rerank, and how each reads its body.
struct RerankRoute {
  std::string_view path;
  RerankHandler::RequestParser parse;
};
constexpr RerankRoute kRerankRoutes[] = {
    {"/rerank", parse_tei_request}, {"/v1/rerank", parse_cohere_request}, {"/v2/rerank", parse_cohere_request}};

bool reranks(const HttpRequest& request, std::string_view path) {
  if (request.method() != http::verb::post) return false;
  return std::any_of(std::begin(kRerankRoutes), std::end(kRerankRoutes),
                     [&](const RerankRoute& r) { return r.path == path; });
}

std::string show(const asio::ip::tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  const std::string host = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return host + ":" + std::to_string(endpoint.port());
}

}  // namespace

RerankServer::RerankServer(const std::vector<ModelSpec>& models, const ServerOptions& options)
    : options_(with_derived_limits(options)),
      metrics_(registry_),
      api_keys_(options_.api_keys),
      identities_(api_keys_, options_.trusted_proxies),
      rate_limiter_(options_.rate_limits, options_.tenants, api_keys_.ids(), registry_),
      models_(models, options_.scheduler, registry_),
      ioc_(std::max(1, options_.io_threads)),
      rerank_(models_, metrics_, options_, identities_, rate_limiter_),
      http_(ioc_, transport_options(options_), *this, metrics_),
      control_(asio::make_strand(ioc_)),
      signals_(control_, SIGINT, SIGTERM),
      drain_timer_(control_) {
  using http::verb;
  for (const auto& [path, parse] : kRerankRoutes) {
    router_.add(verb::post, std::string(path), [this, parser = parse](const auto& e) { rerank_.handle(e, parser); });
  }
  router_.add(verb::get, "/health", [this](const auto& e) { e->respond(health_response(models_)); },
              Router::Access::kOpen);
  router_.add(verb::get, "/info", [this](const auto& e) {
    e->respond(info_response(info_body(models_, options_)));
  });
  router_.add(verb::get, "/metrics", [this](const auto& e) { e->respond(metrics_response(registry_)); });
  router_.add(verb::get, "/openapi.json", [](const auto& e) { e->respond(openapi_response()); });
  // Open, so that a browser can load the page that then asks for a key; the page itself reaches
  // nothing but the API's own routes, which still need one.
  router_.add(verb::get, "/", [](const auto& e) { e->respond(page_response()); }, Router::Access::kOpen);
  for (const std::string& label : router_.labels()) metrics_.add_route(label);
  // Read from the transport's own count of unanswered exchanges rather than a second counter.
  registry_.gauge_callback("rerankd_http_requests_in_flight", "HTTP requests received and not yet answered",
                           [this] { return static_cast<double>(http_.active_exchanges()); });
}

RerankServer::~RerankServer() = default;

int RerankServer::run() {
  // Listen once admission knows the model's speed: a request admitted before the first
  // measurement is admitted blind, and a burst of them at start-up fills a queue no deadline can
  // hold (a storm of 8 callers on a slow model had its first 6 requests time out).
  if (!models_.wait_measured(Clock::now() + kWarmUpWait)) {
    spdlog::warn("the warm-up passes did not finish within {} s: serving without a measured speed",
                 std::chrono::duration_cast<std::chrono::seconds>(kWarmUpWait).count());
  }
  const asio::ip::tcp::endpoint endpoint = http_.listen();
  // Tests and scripts start us with --port 0 and read the port from this line.
  std::printf("rerankd: listening on %s\n", show(endpoint).c_str());
  std::fflush(stdout);
  std::string names;
  for (const ServedModel& m : models_.all()) names += (names.empty() ? "" : ", ") + m.name;
  spdlog::info("serving {} on {} with {} io threads", names, show(endpoint), options_.io_threads);
  wait_for_signal();

  // A connection's work answers its own failures (Session::guarded, the handlers' catches), so
  // what still escapes run() is a bug in the server's own machinery (signals, drain, accept):
  // it stops the server and reaches main, which exits with a bug's status, rather than being
  // logged while the io thread runs on without it.
  std::mutex failure_mutex;
  std::exception_ptr failure;
  auto serve = [&] {
    set_thread_role(ThreadRole::kIo, options_.scheduler.feeder_nice);
    try {
      ioc_.run();
    } catch (...) {
      {
        std::lock_guard lock(failure_mutex);
        if (!failure) failure = std::current_exception();
      }
      ioc_.stop();
    }
  };
  std::vector<std::thread> threads;
  try {
    for (int i = 1; i < options_.io_threads; ++i) threads.emplace_back(serve);
  } catch (const std::system_error& e) {
    ioc_.stop();  // the threads that did start return, and are joined rather than left to terminate()
    for (auto& t : threads) t.join();
    throw Error(Error::Kind::kUnavailable,
                std::string("cannot start the io threads: ") + e.what() + " (out of memory or a process limit)");
  }
  serve();
  for (auto& t : threads) t.join();
  if (failure) {
    http_.release_all();
    try {
      std::rethrow_exception(failure);
    } catch (const std::exception& e) {
      throw Error(Error::Kind::kInternal, std::string("io thread: ") + e.what());
    }
  }
  // Whatever is still queued (a drain that timed out) completes with kUnavailable; the answers
  // go nowhere, the connections are already closed.
  http_.release_all();
  models_.stop();
  spdlog::info("stopped");
  return 0;
}

std::optional<HttpResponse> RerankServer::screen(const HttpRequest& header, const asio::ip::address& peer) noexcept {
  try {
    const std::string_view target = header.target();
    const std::string_view path = target.substr(0, target.find('?'));
    if (!router_.needs_key(path)) return std::nullopt;
    // The one place keys and request rates are checked: before the body is read, so a client
    // without a key, or past its rate, makes the server read nothing.
    const std::optional<ClientIdentity> who = identities_.of(header, peer);
    if (!who) {
      return error_response(
          Error(Error::Kind::kUnauthorized, "missing or invalid API key: send 'Authorization: Bearer <key>'"));
    }
    // Every route a key opens counts against the requests/s limit; the rerank routes' pairs/s
    // are checked once the body says how many (RerankHandler).
    rate_limiter_.admit_request(*who, SteadyClock::now());
    if (!reranks(header, path)) return std::nullopt;
    return rerank_.screen(header, who->str());
  } catch (const Error& e) {
    return error_response(e);
  } catch (const std::exception& e) {
    // Keys are checked here only: whatever went wrong, the request is refused, never let through
    // unchecked.
    return error_response(Error(Error::Kind::kInternal, std::string("screening the request: ") + e.what()));
  }
}

void RerankServer::handle(const std::shared_ptr<Exchange>& exchange) { router_.dispatch(exchange); }

void RerankServer::completed(const Exchange& exchange, const HttpResponse& response) noexcept {
  const std::string_view route = router_.label(exchange.path());
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - exchange.received()).count();
  metrics_.request_answered(route, response.result_int(), seconds);
  const RequestStats& s = exchange.stats();
  // Resolved again rather than carried from screen(), which has no exchange yet: a key comparison,
  // no allocation.
  const std::optional<ClientIdentity> who = identities_.of(exchange);
  std::string_view target = exchange.request().target();
  if (target.size() > 200) target = target.substr(0, 200);
  log_access({.method = exchange.request().method_string(),
              .target = target,
              .route = route,
              .request_id = exchange.request_id(),
              .model = s.model,
              .tenant = who ? who->str() : std::string_view(),
              .status = response.result_int(),
              .pairs = s.pairs,
              .tokens = s.tokens,
              .queue_ms = s.queue_seconds * 1e3,
              .inference_ms = s.inference_seconds * 1e3,
              .total_ms = seconds * 1e3},
             options_.log_format);
}

void RerankServer::wait_for_signal() {
  signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    if (draining_) {
      spdlog::warn("signal {} during the drain: stopping now", signal);
      stop();
      return;
    }
    begin_drain(signal);
  });
}

void RerankServer::begin_drain(int signal) {
  draining_ = true;
  spdlog::info("signal {}: draining ({} requests in flight, up to {} s)", signal, http_.active_exchanges(),
               options_.drain_timeout_seconds);
  http_.stop_accepting();
  models_.begin_drain();
  http_.begin_drain();
  drain_deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(options_.drain_timeout_seconds));
  wait_for_signal();
  poll_drain();
}

// Scheduler::wait_idle blocks; the control strand must not, so it polls the same condition.
void RerankServer::poll_drain() {
  const bool answers_written = http_.active_exchanges() == 0;
  const bool idle = models_.in_flight_requests() == 0 && answers_written;
  if (idle || (abandoned_answered_ && (answers_written || Clock::now() >= drain_deadline_))) {
    spdlog::info(idle ? "drained" : "stopping");
    stop();
    return;
  }
  if (!abandoned_answered_ && Clock::now() >= drain_deadline_) {
    // Every request still waiting gets its answer before its connection closes; writing them is
    // given a moment of its own.
    spdlog::warn("drain timeout: {} requests still in flight are answered 503", http_.active_exchanges());
    http_.answer_in_flight(Error(Error::Kind::kUnavailable,
                                 "the server is shutting down and its drain timeout passed before this request was answered"));
    abandoned_answered_ = true;
    drain_deadline_ = Clock::now() + kAnswerWriteGrace;
  }
  drain_timer_.expires_after(std::chrono::milliseconds(10));
  drain_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) poll_drain();
  });
}

void RerankServer::stop() {
  boost::system::error_code ignored;
  signals_.cancel(ignored);
  drain_timer_.cancel();
  http_.stop_accepting();
  http_.close_all();
  ioc_.stop();
}

}  // namespace rerankd::server
