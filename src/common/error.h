#pragma once
// The one error convention of rerankd: library code throws rerankd::Error (or lets a std::exception
// from a dependency escape); the edges — the CLI's main and the HTTP handlers — catch, and turn the
// error's Kind into an exit code or an HTTP status through the one table in common/error_class.h.
// No module returns error codes of its own.
#include <stdexcept>
#include <string>

namespace rerankd {

class Error : public std::runtime_error {
 public:
  enum class Kind {
    kInvalidInput,      // the caller's data or flags are wrong (HTTP 400, CLI usage error)
    kUnauthorized,      // no valid API key (HTTP 401)
    kNotFound,          // no such route (HTTP 404)
    kMethodNotAllowed,  // the route exists, the method does not (HTTP 405)
    kTooLarge,          // input exceeds a configured limit (HTTP 413)
    kHeadersTooLarge,   // the request header exceeds its limit (HTTP 431)
    kUnprocessable,     // well-formed but cannot be processed, e.g. too long with truncation off (HTTP 422)
    kModelFormat,       // a model file is malformed or unsupported; the message names the file and field
    kIo,                // a file is missing, not a regular file, or cannot be read; the message names it
    kOverloaded,        // admission control refused the work (HTTP 429)
    kRateLimited,       // the client's own rate limit refused the request (HTTP 429)
    kTimeout,           // a deadline passed before the work ran (HTTP 504)
    kUnavailable,       // shutting down or not ready (HTTP 503)
    kInternal,          // a bug or an unexpected backend failure (HTTP 500)
  };

  Error(Kind kind, std::string message) : std::runtime_error(std::move(message)), kind_(kind) {}
  // With the seconds after which a retry could succeed (the HTTP edge's Retry-After, for the Kinds
  // whose class says so).
  Error(Kind kind, std::string message, double retry_after_seconds)
      : std::runtime_error(std::move(message)), kind_(kind), retry_after_seconds_(retry_after_seconds) {}
  Kind kind() const noexcept { return kind_; }
  double retry_after_seconds() const noexcept { return retry_after_seconds_; }  // 0: not known

 private:
  Kind kind_;
  double retry_after_seconds_ = 0;
};

}  // namespace rerankd
