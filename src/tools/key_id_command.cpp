#include "tools/key_id_command.h"

#include <cstdio>
#include <iostream>

#include "server/api_keys.h"

namespace rerankd::tools {

void add_key_id_command(CLI::App& app, int& exit_code) {
  CLI::App* cmd = app.add_subcommand(
      "key-id", "Print the id (key-XXXXXXXX, a short SHA-256) of each API key on standard input, one per line: the "
                "name the server's logs, metrics, /info and --tenant use for it");
  cmd->callback([&exit_code] {
    for (const std::string& key : server::ApiKeys::read_lines(std::cin, "standard input")) {
      std::printf("%s\n", server::key_id(key).c_str());
    }
    exit_code = 0;
  });
}

}  // namespace rerankd::tools
