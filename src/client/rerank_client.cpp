#include "client/rerank_client.h"

#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdio>

#include "client/connection_pool.h"
#include "client/endpoint_selector.h"
#include "client/retry_policy.h"
#include "client/url.h"
#include "common/error.h"
#include "common/http_headers.h"

namespace rerankd::client {

struct RerankClient::State {
  State(asio::any_io_executor ex, ClientOptions opts)
      : executor(std::move(ex)), options(std::move(opts)),
        selector(options.urls.size(), options.health),
        budget(options.retry.budget_ratio, options.retry.budget_burst) {
    for (const std::string& text : options.urls) {
      urls.push_back(parse_url(text));
      pools.push_back(std::make_unique<ConnectionPool>(
          PoolOptions{options.max_connections_per_endpoint, options.max_idle}));
    }
  }

  asio::any_io_executor executor;
  ClientOptions options;
  std::vector<Url> urls;
  std::vector<std::unique_ptr<ConnectionPool>> pools;
  EndpointSelector selector;
  RetryBudget budget;
  std::atomic<uint64_t> calls{0}, attempts{0}, retries{0}, retries_denied{0}, connections_opened{0},
      stale_connections{0};
};

namespace {

using Phase = TransportError::Phase;

ClientOptions validated(ClientOptions options) {
  if (options.urls.empty()) throw Error(Error::Kind::kInvalidInput, "the client needs at least one server URL");
  if (options.io_threads < 1) throw Error(Error::Kind::kInvalidInput, "io_threads must be at least 1");
  if (options.retry.max_attempts < 1) options.retry.max_attempts = 1;
  if (options.health.failure_threshold < 1) options.health.failure_threshold = 1;
  if (options.request_timeout <= std::chrono::milliseconds::zero()) {
    throw Error(Error::Kind::kInvalidInput, "request_timeout must be positive");
  }
  return options;
}

// Counts a request in flight on an endpoint for as long as the attempt lasts.
class InFlight {
 public:
  InFlight(EndpointSelector& selector, size_t endpoint) : selector_(selector), endpoint_(endpoint) {}
  ~InFlight() { selector_.release(endpoint_); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  EndpointSelector& selector_;
  size_t endpoint_;
};

std::string seconds_text(Clock::duration d) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", std::max(0.001, std::chrono::duration<double>(d).count()));
  return text;
}

// One attempt on one endpoint: a pooled (or new) connection and one exchange. A reused connection
// that turns out to have been closed by the server, with nothing of the request acted on, is
// replaced by a fresh one without counting as a retry. Throws TransportError.
asio::awaitable<HttpReply> attempt(RerankClient::State& s, size_t endpoint, HttpRequestSpec& spec,
                                   Clock::time_point deadline) {
  ConnectionPool& pool = *s.pools[endpoint];
  const Url& url = s.urls[endpoint];
  for (int replay = 0;; ++replay) {
    std::unique_ptr<HttpConnection> connection = co_await pool.acquire(deadline);
    const bool reused = connection != nullptr;
    if (!reused) {
      connection = std::make_unique<HttpConnection>(s.executor, s.options.max_response_bytes);
      try {
        co_await connection->connect(url, Clock::now() + s.options.connect_timeout, deadline);
      } catch (...) {
        connection.reset();
        pool.release_slot();
        throw;
      }
      ++s.connections_opened;
    }
    if (s.options.send_timeout_header) spec.headers.front().second = seconds_text(deadline - Clock::now());
    ++s.attempts;
    try {
      HttpReply reply = co_await connection->exchange(url, spec, deadline);
      if (reply.keep_alive) {
        pool.release(std::move(connection));
      } else {
        connection.reset();
        pool.release_slot();
      }
      co_return reply;
    } catch (const TransportError& e) {
      connection.reset();
      pool.release_slot();
      const bool nothing_acted_on = e.phase() == Phase::kSend || e.phase() == Phase::kAwaitResponse;
      if (!reused || !nothing_acted_on || e.timed_out() || replay >= 2) throw;
    }
    // The server closed this idle connection as we sent on it; its idle siblings likely went too.
    --s.attempts;
    ++s.stale_connections;
    pool.close_idle();
  }
}

}  // namespace

asio::awaitable<HttpReply> RerankClient::do_request(std::shared_ptr<State> state, std::string method, std::string path,
                                                    std::string body, CallOptions call) {
  State& s = *state;
  const Clock::time_point deadline = Clock::now() + call.timeout.value_or(s.options.request_timeout);
  ++s.calls;
  s.budget.on_request();

  HttpRequestSpec spec;
  spec.method = std::move(method);
  spec.body = std::move(body);
  if (s.options.send_timeout_header) spec.headers.emplace_back(kRequestTimeoutHeader, "");  // set per attempt
  if (!call.request_id.empty()) spec.headers.emplace_back(kRequestIdHeader, call.request_id);
  if (!s.options.api_key.empty()) spec.headers.emplace_back("Authorization", "Bearer " + s.options.api_key);
  if (path.empty() || path.front() != '/') path.insert(path.begin(), '/');

  std::optional<size_t> avoid;
  for (int attempt_number = 1;; ++attempt_number) {
    const size_t endpoint = s.selector.acquire(avoid);
    const Url& url = s.urls[endpoint];
    spec.target = url.base_path + path;
    std::exception_ptr failure;
    std::optional<std::chrono::milliseconds> retry_after;
    try {
      InFlight in_flight(s.selector, endpoint);
      HttpReply reply = co_await attempt(s, endpoint, spec, deadline);
      s.selector.record_success(endpoint);
      if (reply.status >= 200 && reply.status < 300) co_return reply;
      HttpError error = make_http_error(spec.method, url.str() + path, reply.status, reply.body, reply.retry_after,
                                        std::move(reply.request_id));
      if (!is_retryable_status(reply.status)) throw error;
      retry_after = reply.retry_after;
      failure = std::make_exception_ptr(std::move(error));
    } catch (const TransportError& e) {
      // A connection failure counts against the endpoint's health (a full pool does not: that is
      // the caller's own load, and it ends as a timeout).
      const bool pool_wait = e.phase() == Phase::kConnect && e.timed_out();
      if (!pool_wait) s.selector.record_connection_failure(endpoint);
      // Safe to resend only when the server cannot have seen the request.
      const bool unsent = e.phase() == Phase::kConnect || e.phase() == Phase::kSend;
      if (e.timed_out() || !unsent) throw;
      failure = std::current_exception();
    }

    if (attempt_number >= s.options.retry.max_attempts) std::rethrow_exception(failure);
    if (retry_after && *retry_after > s.options.retry.max_retry_after) std::rethrow_exception(failure);
    const auto delay = retry_delay(s.options.retry, attempt_number, retry_after, random_unit());
    if (Clock::now() + delay >= deadline) std::rethrow_exception(failure);
    if (!s.budget.try_spend()) {
      ++s.retries_denied;
      std::rethrow_exception(failure);
    }
    ++s.retries;
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(s.options.retry.test_wait ? s.options.retry.test_wait(delay) : delay);
    boost::system::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    if (s.urls.size() > 1) avoid = endpoint;
  }
}

asio::awaitable<RerankResponse> RerankClient::do_rerank(std::shared_ptr<State> state, RerankRequest request) {
  std::string body = to_json(request);
  const HttpReply reply = co_await do_request(std::move(state), "POST", "/rerank", std::move(body), request.call);
  co_return parse_rerank_response(reply.body);
}

asio::awaitable<ScoreResponse> RerankClient::do_score(std::shared_ptr<State> state, ScoreRequest request) {
  std::string body = to_json(request);
  const HttpReply reply = co_await do_request(std::move(state), "POST", "/rerank", std::move(body), request.call);
  co_return parse_score_response(reply.body);
}

asio::awaitable<RerankV1Response> RerankClient::do_rerank_v1(std::shared_ptr<State> state, RerankV1Request request) {
  std::string body = to_json(request);
  const HttpReply reply = co_await do_request(std::move(state), "POST", "/v1/rerank", std::move(body), request.call);
  co_return parse_rerank_v1_response(reply.body);
}

RerankClient::RerankClient(ClientOptions options) {
  options = validated(std::move(options));
  own_context_ = std::make_unique<asio::io_context>(options.io_threads);
  executor_ = own_context_->get_executor();
  work_ = asio::prefer(own_context_->get_executor(), asio::execution::outstanding_work.tracked);
  const int threads = options.io_threads;
  state_ = std::make_shared<State>(executor_, std::move(options));
  for (int i = 0; i < threads; ++i) threads_.emplace_back([context = own_context_.get()] { context->run(); });
}

RerankClient::RerankClient(asio::any_io_executor executor, ClientOptions options)
    : executor_(std::move(executor)), state_(std::make_shared<State>(executor_, validated(std::move(options)))) {}

RerankClient::~RerankClient() {
  for (auto& pool : state_->pools) pool->close_idle();
  if (own_context_) {
    work_ = asio::any_io_executor();
    own_context_->stop();
    for (std::thread& t : threads_) t.join();
  }
  state_.reset();  // before the io_context: pooled sockets belong to it
}

void RerankClient::check_not_on_io_thread() const {
  if (own_context_ && own_context_->get_executor().running_in_this_thread()) {
    throw Error(Error::Kind::kInternal,
                "a blocking RerankClient call was made on the client's own I/O thread; it would wait forever");
  }
}

RerankResponse RerankClient::rerank(RerankRequest request) {
  check_not_on_io_thread();
  return async_rerank(std::move(request), asio::use_future).get();
}

ScoreResponse RerankClient::score(ScoreRequest request) {
  check_not_on_io_thread();
  return async_score(std::move(request), asio::use_future).get();
}

RerankV1Response RerankClient::rerank_v1(RerankV1Request request) {
  check_not_on_io_thread();
  return async_rerank_v1(std::move(request), asio::use_future).get();
}

HttpReply RerankClient::post(std::string path, std::string body, CallOptions call) {
  check_not_on_io_thread();
  return async_post(std::move(path), std::move(body), std::move(call), asio::use_future).get();
}

HttpReply RerankClient::get(std::string path, CallOptions call) {
  check_not_on_io_thread();
  return async_get(std::move(path), std::move(call), asio::use_future).get();
}

const ClientOptions& RerankClient::options() const { return state_->options; }

ClientStats RerankClient::stats() const {
  const State& s = *state_;
  ClientStats out;
  out.calls = s.calls.load();
  out.attempts = s.attempts.load();
  out.retries = s.retries.load();
  out.retries_denied = s.retries_denied.load();
  out.connections_opened = s.connections_opened.load();
  out.stale_connections = s.stale_connections.load();
  for (size_t i = 0; i < s.urls.size(); ++i) {
    const ConnectionPool::Stats pool = s.pools[i]->stats();
    const EndpointSelector::State health = s.selector.state(i);
    out.endpoints.push_back({s.urls[i].str(), pool.open, pool.idle, pool.waiting, health.in_flight,
                             health.consecutive_failures, health.cooling_down});
  }
  return out;
}

}  // namespace rerankd::client
