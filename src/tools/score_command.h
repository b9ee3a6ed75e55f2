#pragma once
// `rerankd score`: offline scoring of pairs given on the command line or as JSONL.
#include <CLI/CLI.hpp>

namespace rerankd::tools {

// Registers the subcommand; its callback runs the scoring and sets `exit_code`.
void add_score_command(CLI::App& app, int& exit_code);

}  // namespace rerankd::tools
