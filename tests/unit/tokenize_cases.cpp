// rerankd_tokenize_cases DIR: the ids load_text_tokenizer(DIR) gives each text of
// DIR/tokenizer-cases.jsonl, one JSON array a line, for tests/web/tokenizers.test.mjs to compare
// with Hugging Face's tokenizers library.
#include <cstdio>
#include <iostream>

#include "common/error.h"
#include "test_data.h"
#include "tokenizer/text_tokenizer.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: rerankd_tokenize_cases DIR\n";
    return 2;
  }
  try {
    const auto tokenizer = rerankd::load_text_tokenizer(argv[1]);
    simdjson::dom::parser parser;
    for (const auto& line : rerankd::testing::read_lines(std::filesystem::path(argv[1]) / "tokenizer-cases.jsonl")) {
      const std::string_view text = parser.parse(line)["text"];
      const char* separator = "";
      std::cout << "[";
      for (int32_t id : tokenizer->encode(text)) {
        std::cout << separator << id;
        separator = ",";
      }
      std::cout << "]\n";
    }
  } catch (const rerankd::Error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
