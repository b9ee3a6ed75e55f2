#pragma once
// Where the generated test models and the reference's expected outputs live (built by
// tests/reference/make_test_models.py as a CTest fixture), and readers for its JSONL files.
#include <simdjson.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace rerankd::testing {

inline std::filesystem::path testdata_dir() {
  const char* env = std::getenv("RERANKD_TESTDATA");
  return env != nullptr ? std::filesystem::path(env) : std::filesystem::path(RERANKD_DEFAULT_TESTDATA);
}

inline std::filesystem::path model_dir(const std::string& name) { return testdata_dir() / "models" / name; }

// Each line of a JSONL file, parsed into an owning padded string for simdjson.
inline std::vector<simdjson::padded_string> read_lines(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::vector<simdjson::padded_string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.emplace_back(line);
  }
  return lines;
}

inline std::vector<int32_t> int_array(simdjson::dom::element e) {
  std::vector<int32_t> out;
  for (auto v : e.get_array()) out.push_back(static_cast<int32_t>(int64_t(v)));
  return out;
}

struct ExpectedPair {
  std::string query, document;
  size_t max_length;
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;  // BERT's; empty for XLM-R
  double logit;
};

// expected/<file>.jsonl: <file> is a model's name, or special-<model> for the pairs with special
// tokens written in their texts.
inline std::vector<ExpectedPair> expected_pairs(const std::string& file) {
  std::vector<ExpectedPair> out;
  simdjson::dom::parser parser;
  for (const auto& line : read_lines(testdata_dir() / "expected" / (file + ".jsonl"))) {
    auto obj = parser.parse(line).get_object().value();
    simdjson::dom::element types;
    out.push_back({std::string(std::string_view(obj["query"])), std::string(std::string_view(obj["document"])),
                   static_cast<size_t>(int64_t(obj["max_length"])), int_array(obj["ids"]),
                   obj["type_ids"].get(types) == simdjson::SUCCESS ? int_array(types) : std::vector<int32_t>{},
                   double(obj["logit"])});
  }
  return out;
}

}  // namespace rerankd::testing
