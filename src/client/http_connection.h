#pragma once
// One HTTP/1.1 keep-alive connection to one server: connect, then any number of request/response
// exchanges, one at a time. Deadlines are absolute; when one passes the socket is closed and the
// operation fails with TransportError(timed_out). Failures say how far the exchange got (see
// TransportError::Phase), which is what decides whether a resend is safe. Not thread-safe: the
// pool hands a connection to one request at a time.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/asio.h"
#include "client/url.h"

namespace rerankd::client {

struct HttpRequestSpec {
  std::string method = "POST";  // "GET" or "POST"
  std::string target{};           // path and query, base path included
  std::string body{};             // sent as application/json when not empty
  std::vector<std::pair<std::string, std::string>> headers{};
};

struct HttpReply {
  unsigned status = 0;
  std::string body{};
  std::optional<std::chrono::milliseconds> retry_after;  // from Retry-After (delta seconds)
  std::string request_id{};                                // from X-Request-Id
  bool keep_alive = false;                               // the connection may carry another request
};

// "Retry-After: 2" or "1.5" (seconds) -> milliseconds; HTTP dates and garbage -> nullopt.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value);

class HttpConnection {
 public:
  HttpConnection(asio::any_io_executor executor, size_t max_response_bytes);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Throws TransportError(kConnect); timed_out only when `deadline` (the request's) passed, not
  // when the shorter `connect_deadline` did.
  asio::awaitable<void> connect(const Url& url, Clock::time_point connect_deadline, Clock::time_point deadline);

  // One exchange. A non-2xx status is a reply, not an error. `request` must outlive the await.
  asio::awaitable<HttpReply> exchange(const Url& url, const HttpRequestSpec& request, Clock::time_point deadline);

  // For an idle connection: false when the server has closed it (or sent something unasked).
  bool looks_alive() const;

  Clock::time_point idle_since() const { return idle_since_; }
  void mark_idle() { idle_since_ = Clock::now(); }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Clock::time_point idle_since_{};
};

}  // namespace rerankd::client
