#pragma once
// HTTP/1.1 transport on Boost.Beast: an acceptor, and per connection a session on its own strand
// that reads requests one at a time (keep-alive), enforces the body limit before the body is
// read, hands each request to an HttpHandler as an Exchange, watches for the client going away
// while the answer is pending, and writes the answer whenever (and from whichever thread) the
// handler produces it. It knows nothing about reranking.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "server/http_types.h"
#include "server/server_metrics.h"

namespace rerankd::server {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;

class Session;

// Filled in by handlers for the per-request log line.
struct RequestStats {
  std::string_view model;  // the model a rerank request went to (its name outlives the server's requests)
  size_t pairs = 0;
  size_t tokens = 0;
  double queue_seconds = 0;
  double inference_seconds = 0;
};

// One request and the promise of its response.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  Exchange(std::shared_ptr<Session> session, HttpRequest request, std::string request_id,
           asio::any_io_executor executor, asio::ip::address peer);

  const HttpRequest& request() const { return request_; }
  std::string_view path() const;  // the target without its query string
  const std::string& request_id() const { return request_id_; }
  SteadyClock::time_point received() const { return received_; }
  // The TCP peer (a proxy's address behind one).
  const asio::ip::address& peer_address() const { return peer_; }
  // The connection's strand: timers and completions for this request run here, serialized with
  // the connection's own work.
  const asio::any_io_executor& executor() const { return executor_; }

  RequestStats& stats() { return stats_; }
  const RequestStats& stats() const { return stats_; }

  // Sends the response. Safe from any thread; only the first call counts.
  void respond(HttpResponse response);
  // `hook` runs on executor() if the client closes its connection before the response is sent.
  // Register from executor().
  void on_client_gone(std::function<void()> hook) { gone_hooks_.push_back(std::move(hook)); }

 private:
  friend class Session;
  void client_gone();

  std::shared_ptr<Session> session_;
  HttpRequest request_;
  std::string request_id_;
  asio::any_io_executor executor_;
  asio::ip::address peer_;
  SteadyClock::time_point received_ = SteadyClock::now();
  RequestStats stats_;
  std::atomic<bool> responded_{false};
  std::vector<std::function<void()>> gone_hooks_;
};

class HttpHandler {
 public:
  virtual ~HttpHandler() = default;
  // Runs on the connection's strand as soon as a request's header is read, before its body: a
  // response here answers the request without reading, parsing or handling its body, so a
  // refusal that the header alone decides (a missing key, a rate limit, a full queue) costs
  // microseconds. The transport then discards a small body and keeps the connection, or closes it
  // after the answer when the body is large or of unknown length. Must not throw.
  virtual std::optional<HttpResponse> screen(const HttpRequest& header, const asio::ip::address& peer) noexcept {
    (void)header;
    (void)peer;
    return std::nullopt;
  }
  // Runs on the exchange's executor. Respond now, or later from any thread.
  virtual void handle(const std::shared_ptr<Exchange>& exchange) = 0;
  // Every response passes here just before it is written, including the transport's own
  // refusals (oversized body, malformed HTTP): the place for access logs and request metrics.
  // Must not throw: the answer is on its way whatever the bookkeeping does.
  virtual void completed(const Exchange& exchange, const HttpResponse& response) noexcept = 0;
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  size_t max_body_bytes = size_t{8} << 20;
  size_t max_header_bytes = 16 * 1024;
  std::chrono::seconds idle_timeout{75};  // a keep-alive connection waiting for its next request
  std::chrono::seconds io_timeout{60};    // reading a started request, writing a response
};

class HttpServer {
 public:
  HttpServer(asio::io_context& ioc, HttpServerOptions options, HttpHandler& handler, ServerMetrics& metrics);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts accepting; returns the bound endpoint (port 0 resolved).
  // Throws Error(kIo) when the address cannot be bound.
  asio::ip::tcp::endpoint listen();

  // Graceful shutdown, in order: refuse new connections; close idle keep-alive connections and
  // answer every further request with "Connection: close"; finally close whatever is left.
  void stop_accepting();
  void begin_drain();
  // Answers every request still waiting for its answer with `error` (and Connection: close), so
  // that a drain that gave up on them still tells their clients so.
  void answer_in_flight(const Error& error);
  void close_all();
  // After the io_context has stopped and its threads have returned (so nothing else touches a
  // session): drops every session's unanswered exchange, which holds the session and is held by
  // it, so an abandoned request (a drain that timed out) is freed with the server.
  void release_all();

  // Requests read and not yet fully answered (the response written or the client gone).
  size_t active_exchanges() const;

  struct Shared;

 private:
  void accept();

  std::shared_ptr<Shared> shared_;
  asio::ip::tcp::acceptor acceptor_;     // on its own strand: signals may close it from any thread
  asio::steady_timer accept_backoff_;    // same strand
  size_t accept_failures_ = 0;           // in a row, on the same strand: logged once, and the recovery
};

}  // namespace rerankd::server
