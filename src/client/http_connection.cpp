#include "client/http_connection.h"

#include <poll.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <charconv>
#include <cmath>

#include "client/http_error.h"
#include "common/http_headers.h"
#include "common/version.h"

namespace rerankd::client {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

}  // namespace

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value) {
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  double seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec != std::errc() || end != value.data() + value.size() || !std::isfinite(seconds) || seconds < 0) {
    return std::nullopt;
  }
  constexpr double kMaxSeconds = 24 * 3600;  // anything longer is nonsense; keep the arithmetic safe
  return std::chrono::milliseconds(static_cast<int64_t>(std::ceil(std::min(seconds, kMaxSeconds) * 1000.0)));
}

struct HttpConnection::Impl {
  Impl(asio::any_io_executor executor, size_t max_bytes)
      : stream(asio::make_strand(executor)), max_response_bytes(max_bytes) {}

  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  size_t max_response_bytes;
};

HttpConnection::HttpConnection(asio::any_io_executor executor, size_t max_response_bytes)
    : impl_(std::make_unique<Impl>(std::move(executor), max_response_bytes)) {}

HttpConnection::~HttpConnection() {
  error_code ignored;
  impl_->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  impl_->stream.socket().close(ignored);
}

asio::awaitable<void> HttpConnection::connect(const Url& url, Clock::time_point connect_deadline,
                                              Clock::time_point deadline) {
  const Clock::time_point limit = std::min(connect_deadline, deadline);
  error_code ec;
  std::vector<tcp::endpoint> endpoints;
  const asio::ip::address address = asio::ip::make_address(url.host, ec);
  if (!ec) {
    endpoints.emplace_back(address, url.port);
  } else {
    tcp::resolver resolver(co_await asio::this_coro::executor);
    ec = {};
    auto results = co_await resolver.async_resolve(url.host, std::to_string(url.port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
    if (ec) throw TransportError(TransportError::Phase::kConnect, false, "cannot resolve " + url.host + ": " + ec.message());
    for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  }
  impl_->stream.expires_at(limit);
  ec = {};
  co_await impl_->stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    const bool timed_out = ec == beast::error::timeout;
    const bool request_deadline = timed_out && Clock::now() >= deadline;
    throw TransportError(TransportError::Phase::kConnect, request_deadline,
                         "cannot connect to " + url.authority() + ": " +
                             (timed_out ? std::string("connect timed out") : ec.message()));
  }
  impl_->stream.expires_never();
  impl_->stream.socket().set_option(tcp::no_delay(true), ec);  // best effort
}

asio::awaitable<HttpReply> HttpConnection::exchange(const Url& url, const HttpRequestSpec& spec,
                                                    Clock::time_point deadline) {
  using Phase = TransportError::Phase;
  // Named in error messages only: made when one is thrown, not per exchange.
  const auto where = [&] { return spec.method + " " + url.str() + spec.target.substr(url.base_path.size()); };
  // The body is sent from the caller's string in place (it outlives the exchange): a retried call
  // does not copy a large request again.
  http::request<http::span_body<const char>> request{http::string_to_verb(spec.method), spec.target, 11};
  request.set(http::field::host, url.authority());
  static const std::string user_agent = std::string("rerankd-client/") + std::string(kVersion);
  request.set(http::field::user_agent, user_agent);
  request.set(http::field::accept, "application/json");
  if (!spec.body.empty()) {
    request.set(http::field::content_type, "application/json");
    request.body() = beast::span<const char>(spec.body.data(), spec.body.size());
  }
  for (const auto& [name, value] : spec.headers) request.set(name, value);
  request.keep_alive(true);
  request.prepare_payload();

  error_code ec;
  impl_->stream.expires_at(deadline);
  co_await http::async_write(impl_->stream, request, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    const bool timed_out = ec == beast::error::timeout;
    throw TransportError(Phase::kSend, timed_out,
                         where() + (timed_out ? ": timed out sending the request" : ": sending failed: " + ec.message()));
  }

  http::response_parser<http::string_body> parser;
  parser.body_limit(impl_->max_response_bytes);
  co_await http::async_read(impl_->stream, impl_->buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    const bool timed_out = ec == beast::error::timeout;
    const bool got_some = parser.got_some() || impl_->buffer.size() > 0;
    std::string message = where();
    if (timed_out) {
      message += ": timed out waiting for the response";
    } else if (got_some) {
      message += ": the response was cut off: " + ec.message();
    } else {
      message += ": the connection closed before a response: " + ec.message();
    }
    throw TransportError(got_some ? Phase::kReadResponse : Phase::kAwaitResponse, timed_out, std::move(message));
  }
  impl_->stream.expires_never();

  auto& response = parser.get();
  HttpReply reply;
  reply.status = response.result_int();
  reply.keep_alive = response.keep_alive() && !parser.need_eof();
  if (auto it = response.find(http::field::retry_after); it != response.end()) {
    reply.retry_after = parse_retry_after(std::string_view(it->value().data(), it->value().size()));
  }
  if (auto it = response.find(kRequestIdHeader); it != response.end()) {
    reply.request_id = std::string(it->value().data(), it->value().size());
  }
  reply.body = std::move(response.body());
  co_return reply;
}

bool HttpConnection::looks_alive() const {
  auto& socket = impl_->stream.socket();
  if (!socket.is_open() || impl_->buffer.size() > 0) return false;
  pollfd fd{};
  fd.fd = socket.native_handle();
  fd.events = POLLIN;
  // Readable while idle means end of stream (the server closed it) or bytes nobody asked for.
  return ::poll(&fd, 1, 0) == 0;
}

}  // namespace rerankd::client
