// The HTTP layer as the server configures it: HttpServer itself (Beast's parser with the server's
// header, body and read-buffer limits, Expect: 100-continue, keep-alive, pipelining, the
// transport's own refusals), in-process on a loopback socket, behind a handler that answers
// every request 200. Each input is one connection: the bytes are sent, the sending side is shut,
// and everything the server writes is read until it closes. The server must close (no hang),
// what it wrote must parse as a sequence of HTTP responses, and no request may stay counted as
// in flight. (HttpServer owns its sockets from accept on, so a socket it is: loopback only.)
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <thread>

#include "common/metrics.h"
#include "fuzz_support.h"
#include "server/http_server.h"

namespace {

using namespace rerankd;
using namespace rerankd::server;

class OkHandler final : public HttpHandler {
 public:
  void handle(const std::shared_ptr<Exchange>& exchange) override {
    exchange->respond(json_response(http::status::ok, std::to_string(exchange->request().body().size())));
  }
  void completed(const Exchange&, const HttpResponse&) noexcept override {}
};

struct InProcessServer {
  InProcessServer() : metrics(registry) {
    HttpServerOptions options;
    options.port = 0;
    options.max_body_bytes = 4096;  // small, so that inputs reach the body limit
    options.max_header_bytes = 2048;
    server = std::make_unique<HttpServer>(ioc, options, handler, metrics);
    metrics.add_route("other");
    port = server->listen().port();
    thread = std::thread([this] { ioc.run(); });
  }
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
  MetricsRegistry registry;
  ServerMetrics metrics;
  OkHandler handler;
  std::unique_ptr<HttpServer> server;
  uint16_t port = 0;
  std::thread thread;  // runs until the process exits
};

InProcessServer& in_process() {
  static auto* s = new InProcessServer();
  return *s;
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_http: %s\n", what);
  __builtin_trap();
}

// Everything the server sends on one connection for `input`, until it closes.
std::string exchange(std::string_view input) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) fail("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(in_process().port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // libFuzzer's once-a-second timer signal interrupts system calls here (EINTR): an interrupted
  // connect goes on in the background, an interrupted send or recv is simply retried.
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    pollfd p{fd, POLLOUT, 0};
    int error = errno;
    socklen_t len = sizeof error;
    if (error == EINTR) {
      while (::poll(&p, 1, 10000) < 0 && errno == EINTR) {
      }
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
    }
    if (error != 0) {
      errno = error;
      std::perror("fuzz_http: connect");
      fail("cannot connect to the in-process server");
    }
  }
  const timeval timeout{10, 0};  // past it the server has hung: its own timeouts are longer
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  // The server may close early (a refusal): what it did not read is then lost, as for any client.
  for (size_t sent = 0; sent < input.size();) {
    const ssize_t n = ::send(fd, input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string out;
  char buf[16384];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) fail("the server neither answered nor closed within 10 s");
      break;  // reset by the server after a refusal: what came before it still counts
    }
    out.append(buf, static_cast<size_t>(n));
  }
  // Closed with a reset: this side shut down first, and a TIME_WAIT per input would exhaust the
  // ephemeral ports within a minute at a thousand inputs a second (connect then fails).
  const linger reset{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  ::close(fd);
  return out;
}

// `wire` must be zero or more complete HTTP/1.x responses (a 100 Continue among them). An answer
// to HEAD has a Content-Length and no body; every other body here is non-empty and cannot start
// with "HTTP/", so a header followed by nothing or by the next status line is such an answer.
void check_responses(std::string_view wire, bool head_sent) {
  namespace beast = boost::beast;
  while (!wire.empty()) {
    beast::http::response_parser<beast::http::string_body> parser;
    parser.body_limit(1 << 20);
    beast::error_code ec;
    size_t used = parser.put(asio::buffer(wire.data(), wire.size()), ec);
    if (ec || !parser.is_header_done()) fail("the server wrote something that is not an HTTP response header");
    wire.remove_prefix(used);
    if (parser.is_done()) continue;
    if (head_sent && (wire.empty() || wire.starts_with("HTTP/"))) continue;
    parser.eager(true);
    used = parser.put(asio::buffer(wire.data(), wire.size()), ec);
    if (ec || !parser.is_done()) fail("the server wrote an HTTP response whose body is cut short or malformed");
    wire.remove_prefix(used);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string wire = exchange(fuzz::as_text(data, size));
  check_responses(wire, fuzz::as_text(data, size).find("HEAD") != std::string_view::npos);
  // The server closed the connection, and it counts a request out before it closes.
  if (in_process().server->active_exchanges() != 0) fail("a request is still counted in flight after its connection closed");
  return 0;
}
