#include "client/connection_pool.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <vector>

#include "client/http_error.h"

namespace rerankd::client {

// A request queued for a slot. Its timer doubles as the wake-up: grant() cancels it. The timer is
// touched only on the waiting coroutine's strand (the cancel is posted there), and the waiter is
// shared so a cancel that arrives after the coroutine moved on finds it still alive.
struct ConnectionPool::Waiter {
  explicit Waiter(const asio::any_io_executor& executor) : timer(executor) {}
  asio::steady_timer timer;
  bool granted = false;                        // under the pool mutex
  std::unique_ptr<HttpConnection> connection;  // under the pool mutex; null with granted = a slot
};

ConnectionPool::ConnectionPool(PoolOptions options) : options_(options) {
  options_.max_connections = std::max<size_t>(1, options_.max_connections);
}

ConnectionPool::~ConnectionPool() = default;

asio::awaitable<std::unique_ptr<HttpConnection>> ConnectionPool::acquire(Clock::time_point deadline) {
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  std::shared_ptr<Waiter> waiter;
  while (!waiter) {
    std::unique_ptr<HttpConnection> idle;
    std::vector<std::unique_ptr<HttpConnection>> expired;  // closed (system calls) after the unlock
    {
      std::lock_guard lock(mutex_);
      const Clock::time_point now = Clock::now();
      // Expired idle connections are the oldest: drop them from the front.
      while (!idle_.empty() && now - idle_.front()->idle_since() > options_.max_idle) {
        expired.push_back(std::move(idle_.front()));
        idle_.pop_front();
        --open_;
      }
      if (!idle_.empty()) {
        idle = std::move(idle_.back());
        idle_.pop_back();
      } else if (open_ < options_.max_connections) {
        ++open_;
        co_return nullptr;
      } else {
        waiter = std::make_shared<Waiter>(executor);
        waiters_.push_back(waiter);
      }
    }
    if (idle) {
      // The liveness probe is a system call: made outside the lock every caller of this endpoint takes.
      if (idle->looks_alive()) co_return idle;
      release_slot();  // the server closed it while it sat idle: its slot goes to a waiter, or is freed
    }
  }
  waiter->timer.expires_at(deadline);
  boost::system::error_code ignored;
  co_await waiter->timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  bool granted = false;
  std::unique_ptr<HttpConnection> connection;
  {
    std::lock_guard lock(mutex_);
    granted = waiter->granted;
    connection = std::move(waiter->connection);
    if (!granted) waiters_.remove(waiter);
  }
  if (granted && Clock::now() < deadline) {
    if (connection == nullptr || connection->looks_alive()) co_return connection;
    co_return nullptr;  // it died while passed along: the slot stays ours, the caller opens a fresh one
  }
  if (granted) {  // granted as the deadline passed: hand it on rather than use it late
    if (connection) {
      release(std::move(connection));
    } else {
      release_slot();
    }
  }
  throw TransportError(TransportError::Phase::kConnect, true,
                       "timed out waiting for a free connection (all " + std::to_string(options_.max_connections) +
                           " in use)");
}

void ConnectionPool::grant(std::unique_ptr<HttpConnection> connection) {
  std::shared_ptr<Waiter> waiter;
  {
    std::lock_guard lock(mutex_);
    if (waiters_.empty()) {
      if (connection) {
        connection->mark_idle();
        idle_.push_back(std::move(connection));
      } else {
        --open_;
      }
      return;
    }
    waiter = std::move(waiters_.front());
    waiters_.pop_front();
    waiter->granted = true;
    waiter->connection = std::move(connection);
  }
  asio::post(waiter->timer.get_executor(), [waiter] { waiter->timer.cancel(); });
}

void ConnectionPool::release(std::unique_ptr<HttpConnection> connection) { grant(std::move(connection)); }

void ConnectionPool::release_slot() { grant(nullptr); }

void ConnectionPool::close_idle() {
  decltype(idle_) closing;  // closed (system calls) after the unlock
  {
    std::lock_guard lock(mutex_);
    open_ -= idle_.size();
    closing.swap(idle_);
  }
}

ConnectionPool::Stats ConnectionPool::stats() const {
  std::lock_guard lock(mutex_);
  return {open_, idle_.size(), waiters_.size()};
}

}  // namespace rerankd::client
