// rerankd: one binary, one subcommand per job. Errors from any layer arrive here as exceptions
// and leave as a one-line message and a non-zero exit status.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "common/error.h"
#include "common/version.h"
#include "tools/bench_command.h"
#include "tools/score_command.h"
#include "tools/serve_command.h"

int main(int argc, char** argv) {
  // Logs go to stderr: stdout carries results (scores, JSONL) that scripts read.
  spdlog::set_default_logger(spdlog::stderr_color_mt("rerankd"));
  CLI::App app{"rerankd: a fast, dependable server for cross-encoder rerankers (bge-reranker-v2-m3 and family)"};
  app.set_version_flag("--version", std::string(rerankd::kVersion));
  app.require_subcommand(1);
  int exit_code = 0;
  rerankd::tools::add_score_command(app, exit_code);
  rerankd::tools::add_serve_command(app, exit_code);
  rerankd::tools::add_bench_command(app, exit_code);
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
