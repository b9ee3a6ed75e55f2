#pragma once
// `rerankd serve`: the HTTP server (see docs/api.md).
#include <CLI/CLI.hpp>

namespace rerankd::tools {

// Registers the subcommand; its callback serves until SIGTERM/SIGINT and sets `exit_code`.
void add_serve_command(CLI::App& app, int& exit_code);

}  // namespace rerankd::tools
