#pragma once
// A scripted HTTP/1.1 server on 127.0.0.1 for the client's failure cases: each request is answered
// as the test's handler says (a status and headers, a delay, closing without an answer, or never
// answering). Blocking Beast, a thread per connection; counts connections and requests.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace rerankd::testing {

struct FakeRequest {
  std::string method{}, target{}, body{};
  std::map<std::string, std::string> headers{};  // names lower-cased
  size_t index = 0;             // across the server, from 0
  size_t connection_index = 0;  // within its connection, from 0
  std::chrono::steady_clock::time_point received_at{};
};

struct FakeResponse {
  enum class Action { kRespond, kCloseWithoutResponse, kNeverAnswer };
  Action action = Action::kRespond;
  unsigned status = 200;
  std::string body = "[]";
  std::vector<std::pair<std::string, std::string>> headers{};
  std::chrono::milliseconds delay{0};
  bool close_after = false;  // close the connection after answering, without saying so
};

class FakeHttpServer {
 public:
  using Handler = std::function<FakeResponse(const FakeRequest&)>;

  explicit FakeHttpServer(Handler handler);
  ~FakeHttpServer();
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  size_t accepted() const { return accepted_.load(); }
  size_t requests() const { return requests_.load(); }
  std::vector<FakeRequest> received() const;
  // Waits until the server has closed `n` connections itself (closing without an answer, after
  // close_after, or after a Connection: close exchange); false when `timeout` passes first.
  bool wait_closed(size_t n, std::chrono::milliseconds timeout) const;

  // Closes the listener and every connection (never-answering ones included) and joins threads.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
  std::atomic<size_t> accepted_{0}, requests_{0};
};

}  // namespace rerankd::testing
