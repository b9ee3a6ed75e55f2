// Every malformed model directory the generator writes must fail to load with an Error of the
// listed kind whose message names the file at fault and the tensor or field (bad/manifest.json).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "common/error.h"
#include "common/error_class.h"
#include "engine/reranker.h"
#include "model/safetensors.h"
#include "test_data.h"

namespace rerankd {
namespace {

TEST(Loader, EveryMalformedDirectoryGivesANamedError) {
  simdjson::dom::parser parser;
  simdjson::padded_string manifest;
  ASSERT_EQ(simdjson::padded_string::load((testing::testdata_dir() / "bad" / "manifest.json").string()).get(manifest),
            simdjson::SUCCESS);
  size_t cases = 0;
  for (auto entry : parser.parse(manifest).get_array()) {
    const std::string name{std::string_view(entry["case"])};
    RerankerOptions options;
    options.model_dir = testing::testdata_dir() / "bad" / name;
    try {
      Reranker reranker(options);
      ADD_FAILURE() << name << ": loaded without error";
    } catch (const Error& e) {
      const std::string message = e.what();
      const std::string file{std::string_view(entry["file"])};
      EXPECT_NE(message.find(file), std::string::npos) << name << ": '" << message << "' does not name " << file;
      EXPECT_EQ(error_class(e.kind()).name, std::string_view(entry["kind"])) << name << ": '" << message << "'";
      for (auto m : entry["mentions"].get_array()) {
        const std::string_view mention = m;
        EXPECT_NE(message.find(mention), std::string::npos)
            << name << ": '" << message << "' does not mention " << mention;
      }
      std::printf("[ loader   ] %-28s %s\n", name.c_str(), message.c_str());
    }
    ++cases;
  }
  EXPECT_GE(cases, 10u);
}

TEST(Loader, GoodModelsLoadAndUseEveryTensor) {
  for (const char* name : {"tiny", "tiny-f16", "tiny-bf16", "small", "bert-tiny", "bert-cased"}) {
    RerankerOptions options;
    options.model_dir = testing::model_dir(name);
    EXPECT_NO_THROW(Reranker{options}) << name;
  }
}

TEST(Loader, ArchitectureChoosesTheGraphAndTokenizer) {
  RerankerOptions options;
  options.model_dir = testing::model_dir("bert-cased");
  Reranker bert(options);
  EXPECT_EQ(bert.config().architecture, "BertForSequenceClassification");
  EXPECT_EQ(bert.tokenizer().pair_special_tokens(), 3u);
  EXPECT_EQ(bert.max_length(), 128u);  // BERT positions start at 0: all 128 usable
  options.model_dir = testing::model_dir("tiny");
  EXPECT_EQ(Reranker(options).tokenizer().pair_special_tokens(), 4u);
}

// model_max_length in tokenizer_config.json and truncation.max_length in tokenizer.json cap the
// pair length below what --max-length and the positions allow.
TEST(Loader, TokenizerFilesCapMaxLength) {
  const auto dir = std::filesystem::temp_directory_path() / ("rerankd-maxlen-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::copy(testing::model_dir("tiny"), dir);
  auto rewrite = [&](const char* file, const std::string& from, const std::string& to) {
    std::ifstream in(dir / file);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto at = text.find(from);
    ASSERT_NE(at, std::string::npos) << file << " lacks " << from;
    text.replace(at, from.size(), to);
    std::ofstream(dir / file, std::ios::trunc) << text;
  };
  RerankerOptions options;
  options.model_dir = dir;
  rewrite("tokenizer_config.json", "\"model_max_length\": 512", "\"model_max_length\": 64");
  EXPECT_EQ(Reranker(options).max_length(), 64u);
  rewrite("tokenizer.json", "\"truncation\": null",
          "\"truncation\": {\"max_length\": 40, \"strategy\": \"LongestFirst\"}");
  EXPECT_EQ(Reranker(options).max_length(), 40u);
  rewrite("tokenizer_config.json", "\"model_max_length\": 64", "\"model_max_length\": 1000000000000000019884624838656");
  options.max_length = 30;
  EXPECT_EQ(Reranker(options).max_length(), 30u);  // "no limit" leaves the option in force
  std::filesystem::remove_all(dir);
}

TEST(Loader, MissingDirectoryIsAnIoErrorNamingIt) {
  RerankerOptions options;
  options.model_dir = "/nonexistent/model";
  try {
    Reranker reranker(options);
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kIo);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace rerankd
