#pragma once
// `rerankd key-id`: prints the id of each API key read from standard input (one per line, as in
// a key file), the name the server gives that key in its logs, metrics, /info and --tenant.
// The key itself is never an argument, so that it stays out of shell histories and `ps`.
#include <CLI/CLI.hpp>

namespace rerankd::tools {

// Registers the subcommand; its callback prints the ids and sets `exit_code`.
void add_key_id_command(CLI::App& app, int& exit_code);

}  // namespace rerankd::tools
