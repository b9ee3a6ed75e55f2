#include "client/http_error.h"

#include <simdjson.h>

namespace rerankd::client {

HttpError::HttpError(unsigned status, std::string error_type, std::string server_message, std::string what,
                     std::optional<std::chrono::milliseconds> retry_after, std::string request_id)
    : Error(kind_for_status(status), std::move(what)), status_(status), error_type_(std::move(error_type)),
      server_message_(std::move(server_message)), retry_after_(retry_after), request_id_(std::move(request_id)) {}

HttpError make_http_error(std::string_view method, std::string_view url, unsigned status, std::string_view body,
                          std::optional<std::chrono::milliseconds> retry_after, std::string request_id) {
  std::string type, message;
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(body.data(), body.size()).get_object().get(obj) == simdjson::SUCCESS) {
    std::string_view text;
    if (obj["error"].get_string().get(text) == simdjson::SUCCESS) message = std::string(text);
    if (obj["error_type"].get_string().get(text) == simdjson::SUCCESS) type = std::string(text);
  }
  if (message.empty()) {
    // Not rerankd's error shape (a proxy's HTML page, say): keep a bounded piece of the body.
    constexpr size_t kMaxRaw = 512;
    message = std::string(body.substr(0, kMaxRaw));
    if (message.empty()) message = "(empty body)";
  }
  std::string what = std::string(method) + " " + std::string(url) + ": " + std::to_string(status);
  if (!type.empty()) what += " " + type;
  what += ": " + message;
  return HttpError(status, std::move(type), std::move(message), std::move(what), retry_after, std::move(request_id));
}

}  // namespace rerankd::client
