#pragma once
// Model-loading options shared by every subcommand that runs the model.
#include <CLI/CLI.hpp>

#include <string>

#include "engine/reranker.h"

namespace rerankd::tools {

struct ModelOptions {
  std::string model_dir;
  std::string device = "cpu";
  int threads = 0;
  std::string dtype = "auto";
  size_t max_length = 512;
  size_t max_batch_tokens = BatchLimits{}.max_tokens;
  size_t max_batch_pairs = BatchLimits{}.max_pairs;

  RerankerOptions reranker_options() const;
};

void add_model_options(CLI::App& cmd, ModelOptions& options);

}  // namespace rerankd::tools
