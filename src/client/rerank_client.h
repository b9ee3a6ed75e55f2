#pragma once
// RerankClient: rerankd's client. One object per process (or per set of servers), shared by every
// thread that calls it; it keeps the connection pools, the endpoint health and the retry budget.
//
//   rerankd::client::RerankClient client({.urls = {"http://127.0.0.1:8080"}});
//   auto ranked = client.rerank({.query = "what is panda?", .texts = {"hi", "The giant panda is a bear."}});
//   // ranked[0].index == 1
//
// Every call exists in two forms:
//   blocking     rerank(), score(), rerank_v1(), get(), post(): return the result or throw
//   async_*      take any Asio completion token for the signature void(std::exception_ptr, T):
//                a callback, asio::use_future, asio::use_awaitable, asio::detached
// Failures are rerankd::Error (see client/http_error.h): HttpError when the server answered 4xx/5xx
// (its status and message), TransportError when no answer came (kUnavailable / kTimeout).
// Callbacks run on the client's I/O threads (or the caller's executor) and must not block; blocking
// calls must not be made from them.
//
// GCC 12 caveat: inside a coroutine, do not pass a braced temporary of these request structs in the
// co_await expression (`co_await c.async_rerank({.query = ..}, use_awaitable)`): GCC 12 miscompiles
// aggregate temporaries with string members there (a double free). Name the request first:
//   RerankRequest r{.query = q, .texts = docs};  auto ranked = co_await c.async_rerank(r, use_awaitable);
#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "client/api_types.h"
#include "client/asio.h"
#include "client/client_options.h"
#include "client/http_connection.h"
#include "client/http_error.h"

namespace boost::asio {
class io_context;
}

namespace rerankd::client {

struct ClientStats {
  uint64_t calls = 0;               // calls started
  uint64_t attempts = 0;            // requests put on the wire or tried (first tries + retries)
  uint64_t retries = 0;             // resends after a retryable failure
  uint64_t retries_denied = 0;      // retryable failures not retried because the budget was empty
  uint64_t connections_opened = 0;  // TCP connections made, all endpoints
  uint64_t stale_connections = 0;   // reused connections the server had closed, replaced transparently
  struct Endpoint {
    std::string url{};
    size_t open_connections = 0, idle_connections = 0, waiting = 0, in_flight = 0;
    int consecutive_failures = 0;
    bool cooling_down = false;
  };
  std::vector<Endpoint> endpoints{};
};

class RerankClient {
 public:
  // Runs `options.io_threads` threads of its own.
  explicit RerankClient(ClientOptions options);
  // Runs on the caller's executor (an io_context's, say); no threads of its own.
  RerankClient(asio::any_io_executor executor, ClientOptions options);
  // Calls still in flight are abandoned: their handlers are never called (futures report a broken
  // promise). Idle connections are closed.
  ~RerankClient();
  RerankClient(const RerankClient&) = delete;
  RerankClient& operator=(const RerankClient&) = delete;

  // --- asynchronous -------------------------------------------------------------------------
  template <typename Token>
  auto async_rerank(RerankRequest request, Token&& token) {
    return spawn(do_rerank(state_, std::move(request)), std::forward<Token>(token));
  }
  template <typename Token>
  auto async_score(ScoreRequest request, Token&& token) {
    return spawn(do_score(state_, std::move(request)), std::forward<Token>(token));
  }
  template <typename Token>
  auto async_rerank_v1(RerankV1Request request, Token&& token) {
    return spawn(do_rerank_v1(state_, std::move(request)), std::forward<Token>(token));
  }
  // Any route, any body: the reply of a 2xx (HttpError otherwise), with the same pool, retries and
  // endpoint choice as the typed calls. `path` is relative to the URL's base path ("/rerank").
  template <typename Token>
  auto async_post(std::string path, std::string body, CallOptions call, Token&& token) {
    return spawn(do_request(state_, "POST", std::move(path), std::move(body), std::move(call)),
                 std::forward<Token>(token));
  }
  template <typename Token>
  auto async_get(std::string path, CallOptions call, Token&& token) {
    return spawn(do_request(state_, "GET", std::move(path), std::string(), std::move(call)), std::forward<Token>(token));
  }
  template <typename Token>
  auto async_post(std::string path, std::string body, Token&& token) {
    return async_post(std::move(path), std::move(body), CallOptions(), std::forward<Token>(token));
  }
  template <typename Token>
  auto async_get(std::string path, Token&& token) {
    return async_get(std::move(path), CallOptions(), std::forward<Token>(token));
  }

  // --- blocking (never from a completion handler or the client's own threads) -------------------
  RerankResponse rerank(RerankRequest request);
  ScoreResponse score(ScoreRequest request);
  RerankV1Response rerank_v1(RerankV1Request request);
  HttpReply post(std::string path, std::string body, CallOptions call = {});
  HttpReply get(std::string path, CallOptions call = {});

  ClientStats stats() const;
  const ClientOptions& options() const;
  // The executor the client's work runs on (its own io_context's, or the one it was given).
  asio::any_io_executor get_executor() const { return executor_; }

  struct State;

 private:
  template <typename T, typename Token>
  auto spawn(asio::awaitable<T> operation, Token&& token) {
    // Each call runs on a strand of its own: the pool wakes a waiting call by posting to it.
    return asio::co_spawn(asio::make_strand(executor_), std::move(operation), std::forward<Token>(token));
  }
  void check_not_on_io_thread() const;

  static asio::awaitable<RerankResponse> do_rerank(std::shared_ptr<State> state, RerankRequest request);
  static asio::awaitable<ScoreResponse> do_score(std::shared_ptr<State> state, ScoreRequest request);
  static asio::awaitable<RerankV1Response> do_rerank_v1(std::shared_ptr<State> state, RerankV1Request request);
  static asio::awaitable<HttpReply> do_request(std::shared_ptr<State> state, std::string method, std::string path,
                                               std::string body, CallOptions call);

  std::unique_ptr<asio::io_context> own_context_;  // declared first: destroyed after everything using it
  asio::any_io_executor work_;  // own context only: an outstanding-work-tracked executor keeps run() going
  asio::any_io_executor executor_;
  std::shared_ptr<State> state_;
  std::vector<std::thread> threads_;
};

}  // namespace rerankd::client
