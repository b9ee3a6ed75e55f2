#include "server/http_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "common/error.h"
#include "common/http_headers.h"
#include "common/version.h"
#include "server/error_response.h"
#include "server/request_id.h"

namespace rerankd::server {

namespace beast = boost::beast;
using tcp = asio::ip::tcp;

struct HttpServer::Shared {
  Shared(asio::io_context& context, HttpServerOptions o, HttpHandler& h, ServerMetrics& m)
      : ioc(context), options(std::move(o)), handler(h), metrics(m) {}

  asio::io_context& ioc;
  const HttpServerOptions options;
  HttpHandler& handler;
  ServerMetrics& metrics;
  std::atomic<bool> draining{false};
  std::atomic<size_t> active{0};
  std::mutex mutex;  // guards sessions
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;
};

namespace {

const std::string& server_header() {
  static const std::string value = "rerankd/" + std::string(kVersion);
  return value;
}

bool is_http_parse_error(const beast::error_code& ec) {
  return ec.category() == beast::http::make_error_code(http::error::bad_target).category();
}

}  // namespace

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::shared_ptr<HttpServer::Shared> shared)
      : stream_(std::move(socket)), shared_(std::move(shared)), hold_(stream_.get_executor()) {
    beast::error_code ec;
    const tcp::endpoint remote = stream_.socket().remote_endpoint(ec);
    if (!ec) peer_ = remote.address();
    shared_->metrics.connection_opened();
  }

  ~Session() {
    end_exchange();
    shared_->metrics.connection_closed();
    std::lock_guard lock(shared_->mutex);
    shared_->sessions.erase(this);
  }

  asio::any_io_executor executor() { return stream_.get_executor(); }

  void start() {
    {
      std::lock_guard lock(shared_->mutex);
      shared_->sessions.emplace(this, weak_from_this());
    }
    asio::dispatch(executor(), [self = shared_from_this()] { self->read_next(); });
  }

  // On the strand: a connection with no request under way is closed at once; one with a request
  // is closed after its response (send() stops keep-alive once draining).
  void drain() {
    const bool started = buffer_.size() != 0 || (parser_ && parser_->got_some());
    if (state_ == State::kIdle && !started) close();
  }

  // See HttpServer::answer_in_flight.
  void answer(const Error& error) {
    if (state_ != State::kHandling || !current_) return;
    const std::shared_ptr<Exchange> exchange = current_;  // a copy: send() resets current_
    send(exchange, error_response(error));
  }

  // See HttpServer::release_all.
  void release() {
    close();
    if (current_) current_->gone_hooks_.clear();
    current_.reset();
    end_exchange();
  }

  // Every completion of this session runs through here. An exception from one (a bug) answers the
  // client, a 500 naming it, rather than escaping into the io thread, where nobody could answer:
  // the request under way, or the one being read (then the connection closes); with the answer
  // already being written there is nothing left to say, and the connection closes.
  template <typename Step>
  void guarded(Step&& step) noexcept {
    try {
      step();
    } catch (const std::exception& e) {
      fail(e.what());
    } catch (...) {
      fail("unknown exception");
    }
  }

  void close() noexcept {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    hold_.cancel();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  // On the strand, from Exchange::respond.
  void send(const std::shared_ptr<Exchange>& exchange, HttpResponse response) {
    if (exchange != current_) return;
    current_.reset();  // the exchange holds this session: let go of it to break the cycle
    exchange->gone_hooks_.clear();  // they may hold what holds the exchange
    const HttpRequest& request = exchange->request();
    response.version(request.version() != 0 ? request.version() : 11);
    response.set(http::field::server, server_header());
    response.set(kRequestIdHeader, exchange->request_id());
    const bool keep_alive = !close_after_ && !peer_gone_ && !shared_->draining && request.keep_alive();
    const bool told_to_wait = response.result() == http::status::too_many_requests;
    response.keep_alive(keep_alive);
    response.prepare_payload();
    // A HEAD response carries the headers the body would have, and no body (RFC 9110 9.3.2).
    if (request.method() == http::verb::head) response.body().clear();
    shared_->handler.completed(*exchange, response);
    if (state_ == State::kClosed || peer_gone_) {
      end_exchange();
      close();
      return;
    }
    state_ = State::kWriting;
    beast::error_code ignored;
    stream_.socket().cancel(ignored);  // ends the peer watch; nothing else is pending on the socket
    response_.emplace(std::move(response));
    stream_.expires_after(shared_->options.io_timeout);
    http::async_write(stream_, *response_,
                      [self = shared_from_this(), keep_alive, told_to_wait](beast::error_code ec, size_t) {
                        self->guarded([&] { self->on_write(ec, keep_alive, told_to_wait); });
                      });
  }

 private:
  enum class State { kIdle, kReading, kHandling, kWriting, kLingering, kClosed };

  void fail(const std::string& what) noexcept {
    const Error error(Error::Kind::kInternal, "internal error: " + what);
    try {
      if (state_ == State::kHandling && current_) {
        close_after_ = true;
        const std::shared_ptr<Exchange> exchange = current_;
        return send(exchange, error_response(error));
      }
      if (state_ == State::kIdle || state_ == State::kReading) return refuse(error_response(error));
    } catch (...) {  // answering failed too: closing is all that is left
    }
    close();
  }

  void read_next() {
    if (state_ == State::kClosed) return;
    // Kept alive by a response written just before the drain began: idle now, so close.
    if (shared_->draining && buffer_.size() == 0) return close();
    state_ = State::kIdle;
    close_after_ = false;
    peer_gone_ = false;
    refusal_.reset();
    parser_.emplace();
    parser_->body_limit(shared_->options.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(shared_->options.max_header_bytes));
    stream_.expires_after(shared_->options.idle_timeout);
    http::async_read_header(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->guarded([&] { self->on_header(ec); });
    });
  }

  // Beast's parser refuses a declared Content-Length over body_limit while finishing the header,
  // so an oversized body is answered 413 before a byte of it is read (see on_read_error).
  void on_header(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    if (state_ == State::kClosed) return;
    state_ = State::kReading;
    stream_.expires_after(shared_->options.io_timeout);
    eager_resends_ = refused_at_ && SteadyClock::now() - *refused_at_ < kEagerResend ? eager_resends_ + 1 : 0;
    refused_at_.reset();
    if (eager_resends_ >= 2) {
      // Back within moments of a 429, twice running: a client resending at once, not one that
      // read Retry-After. It waits, at no CPU, before anything more is done for it
      // (docs/architecture.md, "CPU priorities"); a client that waits as told, or an open-loop one
      // that happens to reuse the connection quickly once, never meets this.
      hold_.expires_after(kRefusalHold);
      hold_.async_wait([self = shared_from_this()](beast::error_code wec) {
        self->guarded([&] {
          if (!wec && self->state_ == State::kReading) self->handle_header();
        });
      });
      return;
    }
    handle_header();
  }

  void handle_header() {
    if (std::optional<HttpResponse> refusal = shared_->handler.screen(parser_->get(), peer_)) {
      // A small body of known length (or none) is read and dropped, so the connection stays
      // usable; a large or chunked one, or one the client waits to send (100-continue), is not
      // worth reading.
      const auto length = parser_->content_length();
      if (!parser_->chunked() && length.value_or(0) <= kDiscardableBodyBytes &&
          !beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
        refusal_ = std::move(refusal);
        return read_body();
      }
      return refuse(std::move(*refusal));
    }
    if (beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
      auto interim = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      http::async_write(stream_, *interim, [self = shared_from_this(), interim](beast::error_code wec, size_t) {
        if (wec) return self->close();
        self->guarded([&] { self->read_body(); });
      });
      return;
    }
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->guarded([&] { self->on_body(ec); });
    });
  }

  void on_read_error(beast::error_code ec) {
    if (state_ == State::kClosed) return;
    if (ec == http::error::body_limit) {  // a declared length, or a chunked body that grew too far
      const std::string_view declared = parser_->get()[http::field::content_length];
      return refuse(error_response(Error(
          Error::Kind::kTooLarge, "request body" + (declared.empty() ? "" : " of " + std::string(declared) + " bytes") +
                                      " exceeds the limit of " + std::to_string(shared_->options.max_body_bytes) +
                                      " bytes")));
    }
    if (ec == http::error::header_limit) {
      return refuse(error_response(Error(Error::Kind::kHeadersTooLarge, "request header exceeds " +
                                                                             std::to_string(shared_->options.max_header_bytes) +
                                                                             " bytes")));
    }
    if (is_http_parse_error(ec) && ec != http::error::end_of_stream && ec != http::error::partial_message) {
      return refuse(error_response(Error(Error::Kind::kInvalidInput, "malformed HTTP request: " + ec.message())));
    }
    close();  // EOF, reset or timeout: nobody to answer
  }

  void on_body(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    if (state_ == State::kClosed) return;
    if (parser_->get().version() >= 11 && parser_->get().find(http::field::host) == parser_->get().end()) {
      return refuse(
          error_response(Error(Error::Kind::kInvalidInput, "malformed HTTP request: HTTP/1.1 requires a Host header")));
    }
    if (refusal_) {  // screened out: the body was read only to keep the connection
      HttpResponse refusal = std::move(*refusal_);
      refusal_.reset();
      begin_exchange(parser_->release())->respond(std::move(refusal));
      return;
    }
    auto exchange = begin_exchange(parser_->release());
    try {
      shared_->handler.handle(exchange);
    } catch (const Error& e) {
      exchange->respond(error_response(e));
    } catch (const std::exception& e) {
      exchange->respond(error_response(Error(Error::Kind::kInternal, e.what())));
    }
    if (current_ == exchange) watch_peer(exchange);
  }

  // Answers a request the transport rejected itself, then closes: the rest of its body is unread.
  void refuse(HttpResponse response) {
    HttpRequest request;
    if (parser_) request.base() = parser_->get().base();  // whatever of the header was parsed
    close_after_ = true;
    begin_exchange(std::move(request))->respond(std::move(response));
  }

  std::shared_ptr<Exchange> begin_exchange(HttpRequest request) {
    std::string id = request_id_for(request[kRequestIdHeader]);
    current_ = std::make_shared<Exchange>(shared_from_this(), std::move(request), std::move(id), executor(), peer_);
    state_ = State::kHandling;
    counted_ = true;
    shared_->active++;
    return current_;
  }

  void end_exchange() {
    if (!counted_) return;
    counted_ = false;
    shared_->active--;
  }

  // While the answer is pending nothing reads the socket, so a client that hangs up would go
  // unnoticed until the write. Readability with zero bytes to peek means the peer closed (FIN)
  // or reset; bytes mean a pipelined request, which says nothing either way, so the watch ends.
  void watch_peer(const std::shared_ptr<Exchange>& exchange) {
    stream_.socket().async_wait(tcp::socket::wait_read,
                                [self = shared_from_this(), weak = std::weak_ptr<Exchange>(exchange)](beast::error_code ec) {
                                  self->guarded([&] { self->on_peer_readable(ec, weak.lock()); });
                                });
  }

  void on_peer_readable(beast::error_code ec, const std::shared_ptr<Exchange>& exchange) {
    if (ec || !exchange || exchange != current_ || state_ != State::kHandling) return;
    char byte;
    const ssize_t n = ::recv(stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return watch_peer(exchange);
    peer_gone_ = true;
    exchange->client_gone();
  }

  void on_write(beast::error_code ec, bool keep_alive, bool told_to_wait) {
    end_exchange();
    response_.reset();
    if (ec || state_ == State::kClosed) return close();
    if (told_to_wait) refused_at_ = SteadyClock::now();
    if (keep_alive) return read_next();
    linger_close();
  }

  // Closing a socket with unread input makes the kernel send RST, which can destroy the response
  // before the client reads it (typical after a refused upload). So: half-close, discard what the
  // client still sends for a short while, then close.
  void linger_close() {
    state_ = State::kLingering;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    discard_ = std::make_unique<std::array<char, 16384>>();
    stream_.expires_after(std::chrono::seconds(2));
    discard_more();
  }

  void discard_more() {
    stream_.async_read_some(asio::buffer(*discard_), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec || self->state_ != State::kLingering) return self->close();
      self->discard_more();
    });
  }

  beast::tcp_stream stream_;
  std::shared_ptr<HttpServer::Shared> shared_;
  // Bounded: Beast keeps a chunk-size line, with its extensions, or a trailer field whole in this
  // buffer until it ends. Unbounded, one 256 MB extension took 396 MB, and a trailer field over
  // 65535 bytes threw inside Beast (its field size limit); past this bound both are a 400. Bodies
  // pass through it piecewise, so it does not limit them.
  static constexpr size_t kReadBufferBytes = 64 * 1024;
  beast::flat_buffer buffer_{kReadBufferBytes};
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<HttpResponse> response_;
  std::shared_ptr<Exchange> current_;
  std::unique_ptr<std::array<char, 16384>> discard_;
  // A body up to this size is read and dropped after a refusal by screen(), keeping the
  // connection: cheaper for the client than a new connection, and bounded for us.
  static constexpr uint64_t kDiscardableBodyBytes = 64 * 1024;
  std::optional<HttpResponse> refusal_;  // screen()'s answer, sent once the body is read
  asio::ip::address peer_;
  // A request whose header arrives this soon after a 429 was written on the connection is an eager
  // resend; from the second in a row it waits kRefusalHold before it is handled. A retry loop is
  // paced to ~10 requests a second per connection; an open-loop client almost never lands in so
  // short a window twice running.
  static constexpr std::chrono::milliseconds kEagerResend{3};
  static constexpr std::chrono::milliseconds kRefusalHold{100};
  std::optional<SteadyClock::time_point> refused_at_;  // when a 429 was last written
  int eager_resends_ = 0;  // in a row
  asio::steady_timer hold_;  // the pause of an eager resend, on the strand
  State state_ = State::kIdle;
  bool counted_ = false;      // current request counted in Shared::active
  bool close_after_ = false;  // the request's body was left unread
  bool peer_gone_ = false;
};

// --- Exchange -------------------------------------------------------------------------------------

Exchange::Exchange(std::shared_ptr<Session> session, HttpRequest request, std::string request_id,
                   asio::any_io_executor executor, asio::ip::address peer)
    : session_(std::move(session)),
      request_(std::move(request)),
      request_id_(std::move(request_id)),
      executor_(std::move(executor)),
      peer_(std::move(peer)) {}

std::string_view Exchange::path() const {
  std::string_view target = request_.target();
  return target.substr(0, target.find('?'));
}

void Exchange::respond(HttpResponse response) {
  if (responded_.exchange(true)) return;
  asio::dispatch(executor_, [session = session_, self = shared_from_this(), r = std::move(response)]() mutable {
    session->guarded([&] { session->send(self, std::move(r)); });
  });
}

void Exchange::client_gone() {
  auto hooks = std::move(gone_hooks_);
  gone_hooks_.clear();
  for (auto& hook : hooks) hook();
}

// --- HttpServer -----------------------------------------------------------------------------------

HttpServer::HttpServer(asio::io_context& ioc, HttpServerOptions options, HttpHandler& handler, ServerMetrics& metrics)
    : shared_(std::make_shared<Shared>(ioc, std::move(options), handler, metrics)),
      acceptor_(asio::make_strand(ioc)),
      accept_backoff_(acceptor_.get_executor()) {}

HttpServer::~HttpServer() = default;

tcp::endpoint HttpServer::listen() {
  const HttpServerOptions& o = shared_->options;
  const std::string where = o.host + ":" + std::to_string(o.port);
  try {
    tcp::resolver resolver(shared_->ioc);
    const auto results = resolver.resolve(o.host, std::to_string(o.port),
                                          tcp::resolver::passive | tcp::resolver::numeric_service);
    if (results.empty()) throw Error(Error::Kind::kIo, where + ": host does not resolve");
    const tcp::endpoint endpoint = results.begin()->endpoint();
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  } catch (const boost::system::system_error& e) {
    throw Error(Error::Kind::kIo, where + ": cannot listen: " + e.code().message());
  }
  accept();
  return acceptor_.local_endpoint();
}

void HttpServer::accept() {
  acceptor_.async_accept(asio::make_strand(shared_->ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of file descriptors and the like: retrying at once would spin on the same error, and
      // logging every retry would flood the log while it lasts.
      if (accept_failures_++ == 0) spdlog::warn("http: accept failed: {}; retrying every 100 ms", ec.message());
      accept_backoff_.expires_after(std::chrono::milliseconds(100));
      accept_backoff_.async_wait([this](beast::error_code wec) {
        if (!wec && acceptor_.is_open()) accept();
      });
      return;
    }
    if (accept_failures_ != 0) {
      spdlog::warn("http: accepting connections again after {} failed attempts", accept_failures_);
      accept_failures_ = 0;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::make_shared<Session>(std::move(socket), shared_)->start();
    accept();
  });
}

void HttpServer::stop_accepting() {
  asio::dispatch(acceptor_.get_executor(), [this] {
    beast::error_code ignored;
    acceptor_.close(ignored);
    accept_backoff_.cancel();
  });
}

namespace {

// The live sessions, collected under the mutex; the caller releases them outside it (dropping the
// last reference runs ~Session, which takes the mutex).
std::vector<std::shared_ptr<Session>> live_sessions(HttpServer::Shared& shared) {
  std::vector<std::shared_ptr<Session>> live;
  std::lock_guard lock(shared.mutex);
  for (auto& [raw, weak] : shared.sessions) {
    if (auto s = weak.lock()) live.push_back(std::move(s));
  }
  return live;
}

// Runs `action` on each live session's strand.
template <typename Action>
void for_each_session(HttpServer::Shared& shared, Action action) {
  for (auto& s : live_sessions(shared)) asio::post(s->executor(), [s, action] { action(*s); });
}

}  // namespace

void HttpServer::begin_drain() {
  shared_->draining = true;
  for_each_session(*shared_, [](Session& s) { s.drain(); });
}

void HttpServer::answer_in_flight(const Error& error) {
  for_each_session(*shared_, [error](Session& s) { s.answer(error); });
}

void HttpServer::close_all() {
  for_each_session(*shared_, [](Session& s) { s.close(); });
}

void HttpServer::release_all() {
  for (auto& s : live_sessions(*shared_)) s->release();
}

size_t HttpServer::active_exchanges() const { return shared_->active; }

}  // namespace rerankd::server
