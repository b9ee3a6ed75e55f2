#include "hub/http_fetch.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cctype>
#include <limits>

#include "common/error.h"
#include "common/version.h"

namespace rerankd::hub {
namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr const char* kCaHint = "set SSL_CERT_FILE or REQUESTS_CA_BUNDLE to a PEM bundle of the CAs you trust";

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// Runs one asynchronous operation to completion on `ioc`: the timeouts of beast::tcp_stream only
// apply to asynchronous operations, so every step goes through here rather than a blocking call.
template <class Start>
error_code run_one(asio::io_context& ioc, Start&& start) {
  error_code result;
  start([&result](error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

bool is_ip_address(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// "host:port" as CONNECT wants it: always with the port, IPv6 in brackets.
std::string tunnel_target(const HubUrl& url) {
  std::string target = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  target += ':';
  target += std::to_string(url.port);
  return target;
}

[[noreturn]] void proxy_refused(const Proxy& proxy, const std::string& what, unsigned status, std::string_view reason) {
  std::string message = proxy.describe() + " refused " + what + ": HTTP " + std::to_string(status);
  if (!reason.empty()) message += " " + std::string(reason);
  if (status == 407) {
    message += proxy.authorization.empty()
                   ? "; it wants credentials: set " + proxy.variable +
                         "=http://USER:PASSWORD@HOST:PORT (percent-encode special characters)"
                   : "; it did not accept the user and password in " + proxy.variable;
  } else {
    message += "; check " + proxy.variable + ", or list the host in NO_PROXY if it is reachable without the proxy";
  }
  throw Error(status == 407 || status == 403 ? Error::Kind::kInvalidInput : Error::Kind::kUnavailable, message);
}

}  // namespace

std::string HttpResponse::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return "";
}

struct HttpFetcher::Impl {
  ssl::context tls{ssl::context::tls_client};
  std::string ca_file;
  std::chrono::milliseconds connect_timeout;
  ProxySettings proxies;

  // `proxy`: the proxy a plain http:// request is forwarded by, or nullptr.
  template <class Stream>
  HttpResponse exchange(asio::io_context& ioc, Stream& stream, const HubUrl& url, std::string_view method,
                        const HttpHeaders& headers, const BodySink& sink, std::chrono::milliseconds read_timeout,
                        const ResponseStart& on_start, const Proxy* proxy);
  // Asks the proxy on `stream` for a tunnel to `url`'s host and port; returns once it is open.
  void tunnel(asio::io_context& ioc, beast::tcp_stream& stream, const HubUrl& url, const Proxy& proxy);
};

HttpFetcher::HttpFetcher(const std::string& ca_file, std::chrono::milliseconds connect_timeout, ProxySettings proxies)
    : impl_(std::make_unique<Impl>()) {
  impl_->ca_file = ca_file;
  impl_->connect_timeout = connect_timeout;
  impl_->proxies = std::move(proxies);
  impl_->tls.set_verify_mode(ssl::verify_peer);
  error_code ec;
  if (ca_file.empty()) {
    impl_->tls.set_default_verify_paths(ec);
  } else {
    impl_->tls.load_verify_file(ca_file, ec);
  }
  if (ec) {
    throw Error(Error::Kind::kIo, "cannot load the TLS CA certificates" +
                                      (ca_file.empty() ? std::string(" (the system store)") : " from " + ca_file) +
                                      ": " + ec.message() + "; " + kCaHint);
  }
}

HttpFetcher::~HttpFetcher() = default;

template <class Stream>
HttpResponse HttpFetcher::Impl::exchange(asio::io_context& ioc, Stream& stream, const HubUrl& url,
                                         std::string_view method, const HttpHeaders& headers, const BodySink& sink,
                                         std::chrono::milliseconds read_timeout, const ResponseStart& on_start,
                                         const Proxy* proxy) {
  auto& lowest = beast::get_lowest_layer(stream);
  // A forward proxy takes the absolute URL (RFC 9112 3.2.2); a server its path.
  http::request<http::empty_body> request{http::string_to_verb(method), proxy ? url.str() : url.target, 11};
  request.set(http::field::host, url.authority());
  request.set(http::field::user_agent, std::string("rerankd/") + std::string(kVersion));
  // Identity, so that Content-Length and byte ranges mean bytes of the file.
  request.set(http::field::accept_encoding, "identity");
  request.set(http::field::connection, "close");
  for (const auto& [name, value] : headers) request.set(name, value);
  if (proxy && !proxy->authorization.empty()) request.set(http::field::proxy_authorization, proxy->authorization);

  lowest.expires_after(read_timeout);
  if (const error_code ec = run_one(ioc, [&](auto handler) { http::async_write(stream, request, handler); })) {
    throw Error(Error::Kind::kUnavailable, url.authority() + ": sending the request failed: " + ec.message());
  }
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  if (method == "HEAD") parser.skip(true);
  lowest.expires_after(read_timeout);
  if (const error_code ec = run_one(ioc, [&](auto handler) { http::async_read_header(stream, buffer, parser, handler); })) {
    throw Error(Error::Kind::kUnavailable, url.authority() + ": no response: " + ec.message());
  }
  HttpResponse response;
  response.status = parser.get().result_int();
  // Only 407 is surely the proxy's own answer: any other status may be the server's, forwarded.
  if (proxy && response.status == 407) proxy_refused(*proxy, "the request for " + url.str(), 407, parser.get().reason());
  for (const auto& field : parser.get()) {
    response.headers.emplace_back(lower(field.name_string()), std::string(field.value()));
  }
  if (!sink || response.status < 200 || response.status >= 300 || method == "HEAD") return response;
  if (on_start) on_start(response);

  std::vector<char> chunk(1 << 16);
  uint64_t received = 0;
  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    lowest.expires_after(read_timeout);
    error_code ec = run_one(ioc, [&](auto handler) { http::async_read(stream, buffer, parser, handler); });
    if (ec == http::error::need_buffer) ec = {};
    const size_t n = chunk.size() - parser.get().body().size;
    if (n > 0) sink(chunk.data(), n);
    received += n;
    if (ec) {
      throw Error(Error::Kind::kUnavailable, url.authority() + ": connection lost after " + std::to_string(received) +
                                                 " body bytes: " + ec.message());
    }
  }
  return response;
}

void HttpFetcher::Impl::tunnel(asio::io_context& ioc, beast::tcp_stream& stream, const HubUrl& url,
                               const Proxy& proxy) {
  const std::string target = tunnel_target(url);
  http::request<http::empty_body> request{http::verb::connect, target, 11};
  request.set(http::field::host, target);
  request.set(http::field::user_agent, std::string("rerankd/") + std::string(kVersion));
  if (!proxy.authorization.empty()) request.set(http::field::proxy_authorization, proxy.authorization);
  stream.expires_after(connect_timeout);
  if (const error_code ec = run_one(ioc, [&](auto handler) { http::async_write(stream, request, handler); })) {
    throw Error(Error::Kind::kUnavailable, proxy.describe() + ": sending CONNECT " + target + " failed: " + ec.message());
  }
  beast::flat_buffer buffer;
  http::response_parser<http::empty_body> parser;
  parser.skip(true);  // a 2xx answer to CONNECT has no body; the tunnel's bytes follow it
  stream.expires_after(connect_timeout);
  if (const error_code ec = run_one(ioc, [&](auto handler) { http::async_read_header(stream, buffer, parser, handler); })) {
    throw Error(Error::Kind::kUnavailable, proxy.describe() + " gave no answer to CONNECT " + target + ": " + ec.message());
  }
  const unsigned status = parser.get().result_int();
  if (status < 200 || status >= 300) proxy_refused(proxy, "the tunnel (CONNECT) to " + target, status, parser.get().reason());
  // The server speaks only after our TLS hello, so nothing may follow the proxy's answer yet.
  if (buffer.size() != 0) {
    throw Error(Error::Kind::kUnavailable, proxy.describe() + " sent bytes after its answer to CONNECT " + target);
  }
}

HttpResponse HttpFetcher::send(const HubUrl& url, std::string_view method, const HttpHeaders& headers,
                               const BodySink& sink, std::chrono::milliseconds read_timeout,
                               const ResponseStart& on_start) {
  const Proxy* proxy = impl_->proxies.for_url(url);
  const HubUrl& peer = proxy ? proxy->address : url;
  const std::string peer_name = proxy ? proxy->describe() : url.authority();
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  error_code ec;
  const auto endpoints = resolver.resolve(peer.host, std::to_string(peer.port), ec);
  if (ec) throw Error(Error::Kind::kUnavailable, "cannot resolve " + peer.host + (proxy ? ", " + peer_name : "") + ": " + ec.message());

  const auto connect = [&](beast::tcp_stream& tcp_stream) {
    tcp_stream.expires_after(impl_->connect_timeout);
    if (const error_code e = run_one(ioc, [&](auto handler) { tcp_stream.async_connect(endpoints, handler); })) {
      throw Error(Error::Kind::kUnavailable, "cannot connect to " + peer_name + ": " + e.message());
    }
  };
  if (!url.tls) {
    beast::tcp_stream stream(ioc);
    connect(stream);
    return impl_->exchange(ioc, stream, url, method, headers, sink, read_timeout, on_start, proxy);
  }
  beast::ssl_stream<beast::tcp_stream> stream(ioc, impl_->tls);
  connect(beast::get_lowest_layer(stream));
  // Through a proxy, TLS runs end to end inside the tunnel: the proxy sees only the host and port.
  if (proxy) impl_->tunnel(ioc, beast::get_lowest_layer(stream), url, *proxy);
  // SNI for names (never for address literals, which RFC 6066 forbids), and the certificate must
  // name the host we asked for (DNS name or IP address).
  // OpenSSL's own checks (rather than a verify callback), so that a mismatch reports itself as
  // X509_V_ERR_HOSTNAME_MISMATCH / IP_ADDRESS_MISMATCH.
  SSL* handle = stream.native_handle();
  const bool address = is_ip_address(url.host);
  const bool named = address ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(handle), url.host.c_str()) == 1
                             : SSL_set_tlsext_host_name(handle, url.host.c_str()) == 1 &&
                                   SSL_set1_host(handle, url.host.c_str()) == 1;
  if (!named) throw Error(Error::Kind::kIo, url.host + ": cannot set the TLS server name");
  beast::get_lowest_layer(stream).expires_after(impl_->connect_timeout);
  if (const error_code e = run_one(ioc, [&](auto handler) { stream.async_handshake(ssl::stream_base::client, handler); })) {
    const long verify = SSL_get_verify_result(stream.native_handle());
    std::string why = e.message();
    if (verify != X509_V_OK) why = X509_verify_cert_error_string(verify);
    throw Error(Error::Kind::kIo, "TLS with " + url.authority() + " failed: " + why + " (CA certificates: " +
                                      (impl_->ca_file.empty() ? std::string("the system store") : impl_->ca_file) +
                                      "); " + kCaHint);
  }
  return impl_->exchange(ioc, stream, url, method, headers, sink, read_timeout, on_start, nullptr);
}

}  // namespace rerankd::hub
