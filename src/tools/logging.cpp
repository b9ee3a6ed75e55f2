#include "tools/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "common/json_writer.h"

namespace rerankd::tools {
namespace {

// %j: the message as a JSON string (quotes included), so any text makes a valid line.
class JsonStringMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    JsonWriter w;
    w.value(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(w.str().data(), w.str().data() + w.str().size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonStringMessage>(); }
};

constexpr const char* kJsonHead = R"({"ts":"%Y-%m-%dT%H:%M:%S.%f%z","level":"%l","logger":"%n",)";

std::unique_ptr<spdlog::formatter> formatter_for(server::LogFormat format, bool access) {
  if (format == server::LogFormat::kText) {
    return std::make_unique<spdlog::pattern_formatter>(access ? "[%Y-%m-%d %H:%M:%S.%e] [access] %v"
                                                              : "[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v");
  }
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<JsonStringMessage>('j');
  // Access messages are the rest of a JSON object (server/access_log.cpp); others are text.
  f->set_pattern(std::string(kJsonHead) + (access ? "%v" : R"("msg":%j})"));
  return f;
}

}  // namespace

void configure_logging(const std::string& level, server::LogFormat format) {
  const auto lvl = spdlog::level::from_str(level);
  auto main = spdlog::default_logger();
  main->set_formatter(formatter_for(format, false));
  main->set_level(lvl);
  auto access = spdlog::get("access");
  if (!access) access = spdlog::stderr_color_mt("access");
  access->set_formatter(formatter_for(format, true));
  access->set_level(lvl);
}

}  // namespace rerankd::tools
