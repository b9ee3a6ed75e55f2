// Every malformed model directory the generator writes must fail to load with an Error of the
// listed kind whose message names the file at fault and the tensor or field (bad/manifest.json).
#include <gtest/gtest.h>

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
  for (const char* name : {"tiny", "tiny-f16", "tiny-bf16", "small"}) {
    RerankerOptions options;
    options.model_dir = testing::model_dir(name);
    EXPECT_NO_THROW(Reranker{options}) << name;
  }
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
