#pragma once
// Model-loading options shared by every subcommand that runs the model.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "engine/reranker.h"

namespace rerankd::tools {

struct ModelOptions {
  // Each a directory or a Hugging Face hub id (ORG/NAME). `serve` takes several, each as
  // [NAME=]SOURCE; the other subcommands take one.
  std::vector<std::string> models;
  std::string revision = "main";  // of a hub id: branch, tag or commit
  std::string device = "cpu";
  int threads = 0;
  std::string dtype = "auto";
  BatchBounds batch;  // --max-batch-tokens, --max-batch-pairs, --max-length

  // `models`, or Error(kInvalidInput) when none was given.
  const std::vector<std::string>& sources() const;
  // The one model of a subcommand that takes one: Error(kInvalidInput) for none or several.
  RerankerOptions reranker_options() const;
  // Resolves `source` (a hub id is looked up in the Hugging Face cache, else downloaded).
  RerankerOptions reranker_options(const std::string& source) const;
};

void add_model_options(CLI::App& cmd, ModelOptions& options);

}  // namespace rerankd::tools
