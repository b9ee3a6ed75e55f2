#include "server/access_log.h"

#include <spdlog/spdlog.h>

#include <string>

#include "common/json_writer.h"

namespace rerankd::server {
namespace {

// rerankd reads nothing from the query string, but clients put secrets there (`?api_key=...`):
// the log keeps the path and only says that a query was present.
std::string without_query(std::string_view target) {
  const size_t query = target.find('?');
  if (query == std::string_view::npos) return std::string(target);
  return std::string(target.substr(0, query)) + "?(query omitted)";
}

}  // namespace

void log_access(const AccessRecord& r, LogFormat format) {
  // Resolved once: the CLI registers "access" before the server starts (tools/logging.cpp).
  static const std::shared_ptr<spdlog::logger> logger = [] {
    auto access = spdlog::get("access");
    return access ? access : spdlog::default_logger();
  }();
  if (!logger->should_log(spdlog::level::info)) return;
  const std::string target = without_query(r.target);
  if (format == LogFormat::kJson) {
    JsonWriter w;
    w.begin_object();
    w.key("method").value(r.method).key("target").value(target).key("route").value(r.route);
    w.key("status").value(static_cast<int64_t>(r.status));
    if (!r.model.empty()) w.key("model").value(r.model);
    if (!r.tenant.empty()) w.key("tenant").value(r.tenant);
    w.key("pairs").value(static_cast<uint64_t>(r.pairs)).key("tokens").value(static_cast<uint64_t>(r.tokens));
    w.key("queue_ms").value(r.queue_ms).key("inference_ms").value(r.inference_ms).key("total_ms").value(r.total_ms);
    w.key("request_id").value(r.request_id);
    w.end_object();
    // The JSON access logger's pattern opens the line's object with the timestamp and level and
    // expects the message to carry the remaining members: drop this object's opening brace.
    logger->info(std::string_view(w.str()).substr(1));
    return;
  }
  const std::string model = r.model.empty() ? std::string() : " model=" + std::string(r.model);
  const std::string tenant = r.tenant.empty() ? std::string() : " tenant=" + std::string(r.tenant);
  logger->info("{} {} {}{}{} pairs={} tokens={} queue_ms={:.1f} inference_ms={:.1f} total_ms={:.1f} id={}", r.method,
               target, r.status, model, tenant, r.pairs, r.tokens, r.queue_ms, r.inference_ms, r.total_ms, r.request_id);
}

}  // namespace rerankd::server
