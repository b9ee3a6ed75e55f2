#pragma once
// The client's failures, in rerankd's one error convention: everything thrown is a rerankd::Error
// whose Kind says what went wrong. Two refinements carry the detail a caller may need:
//   HttpError       the server answered with a 4xx/5xx: its status, its error_type and message; its
//                  Kind is the status read back through the server's own table (common/error_class.h)
//   TransportError  no (complete) answer: connect failed, the connection broke, or a deadline passed
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"
#include "common/error_class.h"

namespace rerankd::client {

class HttpError : public Error {
 public:
  HttpError(unsigned status, std::string error_type, std::string server_message, std::string what,
            std::optional<std::chrono::milliseconds> retry_after, std::string request_id);

  unsigned status() const noexcept { return status_; }
  // The server's "error_type" ("validation", "overloaded", ...); empty if the body had none.
  const std::string& error_type() const noexcept { return error_type_; }
  // The server's "error" message verbatim (the raw body when it was not rerankd's JSON shape).
  const std::string& server_message() const noexcept { return server_message_; }
  // The Retry-After header of a 429/503, if any.
  std::optional<std::chrono::milliseconds> retry_after() const noexcept { return retry_after_; }
  // The X-Request-Id the server answered with, for finding the request in its logs.
  const std::string& request_id() const noexcept { return request_id_; }

 private:
  unsigned status_;
  std::string error_type_, server_message_;
  std::optional<std::chrono::milliseconds> retry_after_;
  std::string request_id_;
};

// An HttpError from a non-2xx answer; `what` reads "POST <url>: 422 validation: <message>".
HttpError make_http_error(std::string_view method, std::string_view url, unsigned status, std::string_view body,
                          std::optional<std::chrono::milliseconds> retry_after, std::string request_id);

class TransportError : public Error {
 public:
  // How far the exchange got, which decides whether resending is safe.
  enum class Phase {
    kConnect,       // no connection: nothing was sent
    kSend,          // writing the request failed: the server cannot have acted on it
    kAwaitResponse, // the request went out and the connection closed before any byte came back
    kReadResponse,  // part of the response arrived, then the connection failed
  };

  // kind: kTimeout when a deadline ended the exchange, kUnavailable otherwise.
  TransportError(Phase phase, bool timed_out, std::string message)
      : Error(timed_out ? Kind::kTimeout : Kind::kUnavailable, std::move(message)), phase_(phase) {}

  Phase phase() const noexcept { return phase_; }
  bool timed_out() const noexcept { return kind() == Kind::kTimeout; }

 private:
  Phase phase_;
};

}  // namespace rerankd::client
