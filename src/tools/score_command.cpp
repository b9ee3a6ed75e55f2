#include "tools/score_command.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "common/error.h"
#include "common/json_writer.h"
#include "engine/reranker.h"
#include "tools/common_options.h"

namespace rerankd::tools {
namespace {

struct ScoreArgs {
  ModelOptions model;
  std::string query, instruction;
  std::vector<std::string> documents;
  std::string input, output;
};

struct PairText {
  std::string query, document, instruction;
};

std::vector<PairText> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(Error::Kind::kIo, path + ": cannot open");
  std::vector<PairText> pairs;
  simdjson::dom::parser parser;
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(number);
    simdjson::dom::object obj;
    if (parser.parse(line).get_object().get(obj) != simdjson::SUCCESS) {
      throw Error(Error::Kind::kInvalidInput, where + ": not a JSON object");
    }
    std::string_view q, d;
    if (obj["query"].get_string().get(q) != simdjson::SUCCESS) {
      throw Error(Error::Kind::kInvalidInput, where + ": field 'query' must be a string");
    }
    if (obj["document"].get_string().get(d) != simdjson::SUCCESS) {
      throw Error(Error::Kind::kInvalidInput, where + ": field 'document' must be a string");
    }
    std::string_view instruction;
    if (auto field = obj["instruction"]; field.error() != simdjson::NO_SUCH_FIELD && !field.is_null() &&
                                         field.get_string().get(instruction) != simdjson::SUCCESS) {
      throw Error(Error::Kind::kInvalidInput, where + ": field 'instruction' must be a string");
    }
    pairs.push_back({std::string(q), std::string(d), std::string(instruction)});
  }
  return pairs;
}

int run_score(const ScoreArgs& args) {
  std::vector<PairText> texts;
  if (!args.input.empty()) {
    if (!args.query.empty() || !args.documents.empty()) {
      throw Error(Error::Kind::kInvalidInput, "--input cannot be combined with --query/--doc");
    }
    texts = read_jsonl(args.input);
  } else {
    if (args.documents.empty()) throw Error(Error::Kind::kInvalidInput, "give --query and --doc, or --input FILE");
    for (const auto& d : args.documents) texts.push_back({args.query, d, args.instruction});
  }

  Reranker reranker(args.model.reranker_options());
  std::vector<Reranker::Pair> pairs;
  pairs.reserve(texts.size());
  for (const auto& t : texts) pairs.push_back({t.query, t.document, t.instruction});

  const bool show_progress = isatty(STDERR_FILENO) && pairs.size() > 64;
  auto progress = [&](size_t done, size_t total) {
    if (show_progress) std::fprintf(stderr, "\rscored %zu / %zu pairs", done, total);
  };
  const auto start = std::chrono::steady_clock::now();
  const std::vector<ScoredPair> scores = reranker.score(pairs, progress);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (show_progress) std::fprintf(stderr, "\n");
  // Throughput without the model load: the offline figure the server is compared with.
  size_t tokens = 0;
  for (const auto& s : scores) tokens += s.tokens;
  spdlog::info("scored {} pairs ({} tokens) in {:.3f} s: {:.2f} pairs/s, {:.0f} tokens/s", scores.size(), tokens,
               seconds, static_cast<double>(scores.size()) / seconds, static_cast<double>(tokens) / seconds);

  std::unique_ptr<std::ofstream> file;
  if (!args.output.empty()) {
    file = std::make_unique<std::ofstream>(args.output);
    if (!*file) throw Error(Error::Kind::kIo, args.output + ": cannot open for writing");
  }
  std::ostream& out = file ? *file : std::cout;
  const bool jsonl = file != nullptr || !args.input.empty();
  for (size_t i = 0; i < scores.size(); ++i) {
    if (jsonl) {
      JsonWriter w;
      w.begin_object();
      w.key("index").value(static_cast<int64_t>(i));
      w.key("logit").value(scores[i].logit);
      w.key("score").value(scores[i].score);
      w.key("tokens").value(static_cast<int64_t>(scores[i].tokens));
      w.key("truncated").value(scores[i].truncated);
      w.end_object();
      out << w.str() << '\n';
    } else {
      char line[64];
      std::snprintf(line, sizeof line, "%.6f\t%.6f\t", static_cast<double>(scores[i].logit),
                    static_cast<double>(scores[i].score));
      out << line << texts[i].document << '\n';
    }
  }
  out.flush();
  if (!out) throw Error(Error::Kind::kIo, (args.output.empty() ? "stdout" : args.output) + ": write failed");
  return 0;
}

}  // namespace

void add_score_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ScoreArgs>();
  CLI::App* cmd = app.add_subcommand("score", "Score (query, document) pairs offline. Prints 'logit<TAB>score<TAB>doc' "
                                              "per --doc, or JSONL {index, logit, score} for --input/--output");
  add_model_options(*cmd, args->model);
  cmd->add_option("-q,--query", args->query, "Query text");
  cmd->add_option("-d,--doc", args->documents, "Document text (repeat for several)");
  cmd->add_option("--instruction", args->instruction,
                  "A decoder reranker's task instruction for --query/--doc (JSONL lines may carry their own)");
  cmd->add_option("-i,--input", args->input, "JSONL file of {\"query\": .., \"document\": ..} lines");
  cmd->add_option("-o,--output", args->output, "Write JSONL scores here instead of stdout");
  cmd->callback([args, &exit_code] { exit_code = run_score(*args); });
}

}  // namespace rerankd::tools
