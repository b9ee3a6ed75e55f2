#pragma once
// Logging set-up for the CLI: everything on stderr (stdout carries results), human-readable text
// by default or one JSON object per line, at a chosen level. Two loggers: the default one
// ("rerankd") and "access" (one line per HTTP request, see server/access_log.h).
#include <string>

#include "server/server_options.h"

namespace rerankd::tools {

// level: trace, debug, info, warn, error, critical or off.
void configure_logging(const std::string& level, server::LogFormat format);

}  // namespace rerankd::tools
