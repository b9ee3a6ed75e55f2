#include "fake_http_server.h"

#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <condition_variable>
#include <list>

namespace rerankd::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct FakeHttpServer::Impl {
  explicit Impl(Handler h) : handler(std::move(h)), acceptor(context) {}

  Handler handler;
  asio::io_context context;
  tcp::acceptor acceptor;
  std::thread accept_thread;
  std::mutex mutex;
  std::condition_variable stopped_cv;
  bool stopped = false;
  std::condition_variable closed_cv;
  size_t closed = 0;  // connections closed by the server itself
  std::list<std::shared_ptr<tcp::socket>> sockets;
  std::list<std::thread> threads;
  std::vector<FakeRequest> received;

  // Counted after close() returns: on loopback the kernel hands the FIN to the client's socket on
  // close()'s own path (the receive runs as the send's softirq), so a test woken by the count finds
  // the client's end readable.
  void close_connection(tcp::socket& socket) {
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
    {
      std::lock_guard lock(mutex);
      ++closed;
    }
    closed_cv.notify_all();
  }
};

FakeHttpServer::FakeHttpServer(Handler handler) : impl_(std::make_unique<Impl>(std::move(handler))) {
  Impl& s = *impl_;
  const tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
  s.acceptor.open(endpoint.protocol());
  s.acceptor.set_option(tcp::acceptor::reuse_address(true));
  s.acceptor.bind(endpoint);
  s.acceptor.listen();
  port_ = s.acceptor.local_endpoint().port();

  s.accept_thread = std::thread([this] {
    Impl& st = *impl_;
    for (;;) {
      auto socket = std::make_shared<tcp::socket>(st.context);
      boost::system::error_code ec;
      st.acceptor.accept(*socket, ec);
      if (ec) return;  // closed by stop()
      std::lock_guard lock(st.mutex);
      if (st.stopped) return;
      ++accepted_;
      st.sockets.push_back(socket);
      st.threads.emplace_back([this, socket] {
        Impl& cs = *impl_;
        beast::flat_buffer buffer;
        for (size_t on_connection = 0;; ++on_connection) {
          http::request<http::string_body> request;
          boost::system::error_code rec;
          http::read(*socket, buffer, request, rec);
          if (rec) return;
          FakeRequest fr;
          fr.method = std::string(request.method_string());
          fr.target = std::string(request.target());
          fr.body = request.body();
          for (const auto& field : request) {
            std::string name(field.name_string());
            for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            fr.headers[name] = std::string(field.value());
          }
          fr.connection_index = on_connection;
          fr.received_at = std::chrono::steady_clock::now();
          {
            std::lock_guard l(cs.mutex);
            fr.index = requests_++;
            cs.received.push_back(fr);
          }
          const FakeResponse answer = cs.handler(fr);
          if (answer.delay.count() > 0) {
            std::unique_lock l(cs.mutex);
            cs.stopped_cv.wait_for(l, answer.delay, [&] { return cs.stopped; });
            if (cs.stopped) return;
          }
          if (answer.action == FakeResponse::Action::kCloseWithoutResponse) return cs.close_connection(*socket);
          if (answer.action == FakeResponse::Action::kNeverAnswer) {
            std::unique_lock l(cs.mutex);
            cs.stopped_cv.wait(l, [&] { return cs.stopped; });
            return;
          }
          http::response<http::string_body> response{static_cast<http::status>(answer.status), 11};
          response.set(http::field::content_type, "application/json");
          for (const auto& [name, value] : answer.headers) response.set(name, value);
          response.body() = answer.body;
          response.keep_alive(request.keep_alive());
          response.prepare_payload();
          boost::system::error_code wec;
          http::write(*socket, response, wec);
          if (wec || !request.keep_alive() || answer.close_after) return cs.close_connection(*socket);
        }
      });
    }
  });
}

FakeHttpServer::~FakeHttpServer() { stop(); }

std::vector<FakeRequest> FakeHttpServer::received() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->received;
}

bool FakeHttpServer::wait_closed(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->mutex);
  return impl_->closed_cv.wait_for(lock, timeout, [&] { return impl_->closed >= n; });
}

void FakeHttpServer::stop() {
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mutex);
    if (s.stopped) return;
    s.stopped = true;
    boost::system::error_code ignored;
    for (auto& socket : s.sockets) socket->shutdown(tcp::socket::shutdown_both, ignored);
  }
  s.stopped_cv.notify_all();
  // Wake the blocking accept() with a connection of our own; it sees `stopped` and returns.
  {
    boost::system::error_code ignored;
    tcp::socket poke(s.context);
    poke.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ignored);
    if (s.accept_thread.joinable()) s.accept_thread.join();
  }
  boost::system::error_code ignored;
  s.acceptor.close(ignored);
  std::list<std::thread> threads;
  {
    std::lock_guard lock(s.mutex);
    threads.swap(s.threads);
  }
  for (std::thread& t : threads) t.join();
  std::lock_guard lock(s.mutex);
  s.sockets.clear();
}

}  // namespace rerankd::testing
