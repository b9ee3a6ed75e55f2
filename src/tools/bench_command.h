#pragma once
// `rerankd bench`: a load generator for a running rerankd (or any server of the same API). Needs
// no model: it only talks HTTP to the URLs it is given, through the client library.
#include <CLI/CLI.hpp>

namespace rerankd::tools {

// Registers the subcommand; its callback runs the benchmark and sets `exit_code`.
void add_bench_command(CLI::App& app, int& exit_code);

}  // namespace rerankd::tools
