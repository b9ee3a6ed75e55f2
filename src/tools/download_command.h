#pragma once
// `rerankd download ORG/NAME`: fills the Hugging Face cache ahead of time (a container image
// build, a machine that will run with HF_HUB_OFFLINE=1) and prints the snapshot directory.
#include <CLI/CLI.hpp>

namespace rerankd::tools {

// Registers the subcommand; its callback runs the download and sets `exit_code`.
void add_download_command(CLI::App& app, int& exit_code);

}  // namespace rerankd::tools
