// rerankd: one binary, one subcommand per job. Errors from any layer arrive here as exceptions
// and leave as a one-line message and a non-zero exit status.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/error.h"
#include "common/version.h"
#include "tools/bench_command.h"
#include "tools/download_command.h"
#include "tools/score_command.h"
#include "tools/serve_command.h"

int main(int argc, char** argv) {
  // Logs go to stderr: stdout carries results (scores, JSONL) that scripts read.
  spdlog::set_default_logger(spdlog::stderr_color_mt("rerankd"));
  CLI::App app{"rerankd: a fast, dependable server for cross-encoder rerankers (bge-reranker-v2-m3 and family)"};
  app.set_version_flag("--version", std::string(rerankd::kVersion));
  app.require_subcommand(1);
  // Any option of any subcommand can also come from a TOML/INI file, under the subcommand's
  // section ([serve] port = 8080). Precedence (CLI11's): command line, then the file, then the
  // RERANKD_* environment variables, then the defaults.
  // RERANKD_CONFIG names the file too (CLI11 reads config files before the environment, so the
  // variable becomes the option's default rather than its envname).
  const char* config_env = std::getenv("RERANKD_CONFIG");
  const std::string config_default = config_env != nullptr ? config_env : "";
  if (!config_default.empty() && !std::filesystem::is_regular_file(config_default)) {
    std::fprintf(stderr, "rerankd: error: RERANKD_CONFIG=%s: no such file\n", config_default.c_str());
    return 2;
  }
  app.set_config("--config", config_default,
                 "TOML/INI file of options, before the subcommand: rerankd --config FILE serve. Options go "
                 "under the subcommand's section ([serve] port = 8080). Env: RERANKD_CONFIG");
  int exit_code = 0;
  rerankd::tools::add_score_command(app, exit_code);
  rerankd::tools::add_serve_command(app, exit_code);
  rerankd::tools::add_bench_command(app, exit_code);
  rerankd::tools::add_download_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const rerankd::Error& e) {
    std::fprintf(stderr, "rerankd: error: %s\n", e.what());
    return e.kind() == rerankd::Error::Kind::kInvalidInput ? 2 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rerankd: error: %s\n", e.what());
    return 1;
  }
  return exit_code;
}
