#pragma once
// Model-loading options shared by every subcommand that runs the model.
#include <CLI/CLI.hpp>

#include <string>

#include "engine/reranker.h"

namespace rerankd::tools {

struct ModelOptions {
  std::string model;             // a directory, or a Hugging Face hub id (ORG/NAME)
  std::string revision = "main";  // of a hub id: branch, tag or commit
  std::string device = "cpu";
  int threads = 0;
  std::string dtype = "auto";
  size_t max_length = 512;
  size_t max_batch_tokens = BatchLimits{}.max_tokens;
  size_t max_batch_pairs = BatchLimits{}.max_pairs;

  // Resolves `model` (a hub id is looked up in the Hugging Face cache, else downloaded).
  RerankerOptions reranker_options() const;
};

void add_model_options(CLI::App& cmd, ModelOptions& options);

}  // namespace rerankd::tools
