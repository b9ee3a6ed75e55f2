#pragma once
// One access line per answered HTTP request, on the "access" logger (the default logger when none
// is registered). Text: `POST /rerank 200 model=bge tenant=key-1a2b3c4d pairs=10 tokens=812
// queue_ms=1.2 ... id=...` (model= on rerank routes only; tenant= when the request has an identity:
// client_identity.h, never a key). JSON: the
// same fields as members of the line's object, for log pipelines that index them. The request's
// headers (Authorization among them) and bodies are never logged.
#include <string_view>

#include "server/server_options.h"

namespace rerankd::server {

struct AccessRecord {
  std::string_view method, target, route, request_id, model, tenant;
  unsigned status = 0;
  size_t pairs = 0, tokens = 0;
  double queue_ms = 0, inference_ms = 0, total_ms = 0;
};

void log_access(const AccessRecord& record, LogFormat format);

}  // namespace rerankd::server
