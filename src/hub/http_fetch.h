#pragma once
// One HTTP/1.1 request per connection, over plain TCP or TLS (OpenSSL: the system CA store or a
// named bundle, SNI, host name verification), with an idle timeout on every read and write,
// directly or through an HTTP proxy (CONNECT tunnels for https://, absolute-form requests for
// http://). The body streams to a sink, so a multi-gigabyte weight file never sits in memory.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hub/hub_url.h"
#include "hub/proxy_settings.h"

namespace rerankd::hub {

struct HttpResponse {
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names in lower case

  // The first value of the header `lower_name`, or "" when absent.
  std::string header(std::string_view lower_name) const;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;
using BodySink = std::function<void(const char* data, size_t size)>;
// Called with a 2xx response's status and headers before its body (to see 200 versus 206).
using ResponseStart = std::function<void(const HttpResponse& response)>;

class HttpFetcher {
 public:
  // `ca_file`: a PEM bundle that replaces the system store; empty for the system store.
  // `connect_timeout` bounds the connection, the proxy's answer to CONNECT and the TLS handshake.
  HttpFetcher(const std::string& ca_file, std::chrono::milliseconds connect_timeout, ProxySettings proxies);
  ~HttpFetcher();
  HttpFetcher(const HttpFetcher&) = delete;
  HttpFetcher& operator=(const HttpFetcher&) = delete;

  // Sends `method` to `url` and reads the response. The body goes to `sink` when the status is
  // 2xx and a sink is given (after `on_start`, when given); otherwise it is not read. Throws Error(kUnavailable) when the host
  // cannot be reached, goes quiet for `read_timeout`, or drops the connection (the message says
  // how many body bytes arrived), and Error(kIo) when TLS verification fails (naming the CA
  // variables). A proxy that refuses (any non-2xx answer to CONNECT, or 407 to a forwarded
  // request) is an error naming the proxy's variable: kInvalidInput for 407 and 403, which the
  // user must mend, else kUnavailable. Errors the sink throws pass through.
  HttpResponse send(const HubUrl& url, std::string_view method, const HttpHeaders& headers, const BodySink& sink,
                    std::chrono::milliseconds read_timeout, const ResponseStart& on_start = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rerankd::hub
