// rerankd: one binary, one subcommand per job. Errors from any layer arrive here as exceptions
// and leave as a one-line message and the exit status of their Kind (common/error_class.h):
// 2 a usage error (flags, input data), 1 a failure of the environment (a model file, I/O, the
// network, a busy server), 70 a bug.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/error.h"
#include "common/error_class.h"
#include "common/version.h"
#include "tools/bench_command.h"
#include "tools/download_command.h"
#include "tools/key_id_command.h"
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
    return rerankd::error_class(rerankd::Error::Kind::kIo).exit_code;
  }
  app.set_config("--config", config_default,
                 "TOML/INI file of options, before the subcommand: rerankd --config FILE serve. Options go "
                 "under the subcommand's section ([serve] port = 8080). Env: RERANKD_CONFIG");
  int exit_code = 0;
  rerankd::tools::add_score_command(app, exit_code);
  rerankd::tools::add_serve_command(app, exit_code);
  rerankd::tools::add_bench_command(app, exit_code);
  rerankd::tools::add_download_command(app, exit_code);
  rerankd::tools::add_key_id_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version end parsing this way too, with CLI11's success code.
    return app.exit(e) == 0 ? 0 : rerankd::kExitUsage;
  } catch (const rerankd::Error& e) {
    std::fprintf(stderr, "rerankd: error: %s\n", e.what());
    return rerankd::error_class(e.kind()).exit_code;
  } catch (const std::exception& e) {  // from a dependency: most likely the environment (memory, files)
    std::fprintf(stderr, "rerankd: error: %s\n", e.what());
    return rerankd::kExitFailure;
  }
  return exit_code;
}
