#pragma once
// The keep-alive connections to one endpoint. At most `max_connections` exist at once (idle, in
// use, or being opened); a request that finds none free waits, in arrival order, until one is
// released or its deadline passes. Idle connections are reused most-recently-used first, so a
// burst's extra connections age out; one idle longer than `max_idle`, or that the server has
// closed, is dropped at checkout and its slot reused. Thread-safe: any thread may acquire and
// release. The pool does not open connections itself: acquire() grants either an idle connection
// or an empty slot for the caller to connect, so a slow connect never holds the pool's lock.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <mutex>

#include "client/asio.h"
#include "client/http_connection.h"

namespace rerankd::client {

struct PoolOptions {
  size_t max_connections = 16;
  std::chrono::milliseconds max_idle{30000};
};

class ConnectionPool {
 public:
  explicit ConnectionPool(PoolOptions options);
  ~ConnectionPool();

  // An idle connection, or nullptr meaning "a slot is yours: open a connection in it". Waits while
  // the pool is full; throws TransportError(kConnect, timed out) when `deadline` passes first.
  // Must be awaited from a coroutine running on a strand (the client spawns each call on one).
  asio::awaitable<std::unique_ptr<HttpConnection>> acquire(Clock::time_point deadline);

  // Gives back a connection that may carry another request.
  void release(std::unique_ptr<HttpConnection> connection);
  // Gives back a slot whose connection failed, was never opened, or must not be reused.
  void release_slot();
  // Drops every idle connection (after one turned out dead, the rest likely are too).
  void close_idle();

  struct Stats {
    size_t open = 0;     // slots taken: idle + in use + connecting
    size_t idle = 0;
    size_t waiting = 0;  // requests queued for a slot
  };
  Stats stats() const;

 private:
  struct Waiter;
  void grant(std::unique_ptr<HttpConnection> connection);  // to the first waiter, or idle/free

  PoolOptions options_;
  mutable std::mutex mutex_;
  std::deque<std::unique_ptr<HttpConnection>> idle_;  // oldest first
  std::list<std::shared_ptr<Waiter>> waiters_;
  size_t open_ = 0;
};

}  // namespace rerankd::client
