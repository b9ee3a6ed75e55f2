#pragma once
// The one error convention of rerankd: library code throws rerankd::Error (or lets a std::exception
// from a dependency escape); the edges — the CLI's main and the HTTP handlers — catch, and turn the
// error's Kind into an exit code or an HTTP status. No module returns error codes of its own.
#include <stdexcept>
#include <string>

namespace rerankd {

class Error : public std::runtime_error {
 public:
  enum class Kind {
    kInvalidInput,   // the caller's data is wrong (HTTP 4xx, CLI usage error)
    kTooLarge,       // input exceeds a configured limit (HTTP 413)
    kUnprocessable,  // well-formed but cannot be processed, e.g. too long with truncation off (HTTP 422)
    kModelFormat,    // a model file is malformed or unsupported; the message names the file and field
    kIo,             // a file could not be opened or read
    kOverloaded,     // admission control refused the work (HTTP 429)
    kTimeout,        // a deadline passed before the work ran (HTTP 504 / 408)
    kUnavailable,    // shutting down or not ready (HTTP 503)
    kInternal,       // a bug or an unexpected backend failure (HTTP 500)
  };

  Error(Kind kind, std::string message) : std::runtime_error(std::move(message)), kind_(kind) {}
  // kOverloaded with the seconds after which a retry could be admitted (the HTTP edge's Retry-After).
  Error(Kind kind, std::string message, double retry_after_seconds)
      : std::runtime_error(std::move(message)), kind_(kind), retry_after_seconds_(retry_after_seconds) {}
  Kind kind() const noexcept { return kind_; }
  double retry_after_seconds() const noexcept { return retry_after_seconds_; }  // 0: not known

 private:
  Kind kind_;
  double retry_after_seconds_ = 0;
};

const char* to_string(Error::Kind kind) noexcept;

}  // namespace rerankd
