// BERT's tokenizer (BasicTokenizer + WordPiece, [CLS] a [SEP] b [SEP] with token types) against
// ids from the independent reference, and the tokenizer_config.json options it must honour.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "common/error.h"
#include "test_data.h"
#include "tokenizer/bert_tokenizer.h"
#include "tokenizer/tokenizer_files.h"

namespace rerankd {
namespace {

using testing::testdata_dir;

BertTokenizer tokenizer_of(const std::string& model) {
  return BertTokenizer(testing::model_dir(model) / "vocab.txt", read_tokenizer_files(testing::model_dir(model)));
}

class BertTokenizerTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BertTokenizerTest, MatchesReferenceIdsAndTypes) {
  const BertTokenizer tokenizer = tokenizer_of(GetParam());
  simdjson::dom::parser parser;
  size_t texts = 0, pairs = 0;
  for (const auto& line : testing::read_lines(testdata_dir() / "expected" / ("tokenizer-" + GetParam() + ".jsonl"))) {
    auto obj = parser.parse(line).get_object().value();
    const std::string_view kind = obj["kind"];
    const auto expected = testing::int_array(obj["ids"]);
    if (kind == "text") {
      const std::string_view text = obj["text"];
      EXPECT_EQ(tokenizer.encode(text), expected) << "text: " << text;
      ++texts;
    } else {
      const std::string_view q = obj["query"], d = obj["document"];
      const auto max_length = static_cast<size_t>(int64_t(obj["max_length"]));
      const EncodedPair pair = tokenizer.encode_pair(q, d, max_length);
      EXPECT_EQ(pair.ids, expected) << "query: " << q << " document: " << d << " max_length: " << max_length;
      EXPECT_EQ(pair.type_ids, testing::int_array(obj["type_ids"])) << "query: " << q << " max_length: " << max_length;
      ++pairs;
    }
  }
  EXPECT_GT(texts, 20u);
  EXPECT_GT(pairs, 10u);
}

INSTANTIATE_TEST_SUITE_P(Models, BertTokenizerTest, ::testing::Values("bert-tiny", "bert-cased"),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

TEST(BasicTokenizer, CaseAccentsCjkAndPunctuation) {
  using Words = std::vector<std::string>;
  const BasicTokenizerOptions uncased{};
  EXPECT_EQ(basic_tokenize("Héllo, WÖRLD!", uncased), (Words{"hello", ",", "world", "!"}));
  EXPECT_EQ(basic_tokenize("北京a大", uncased), (Words{"北", "京", "a", "大"}));
  EXPECT_EQ(basic_tokenize("a\u00adb\tc\u2028d", uncased), (Words{"ab", "c", "d"}));  // soft hyphen is Cf
  EXPECT_EQ(basic_tokenize("$5^2`", uncased), (Words{"$", "5", "^", "2", "`"}));      // ASCII symbols split
  const BasicTokenizerOptions cased{.lower_case = false, .strip_accents = false, .split_chinese = false};
  EXPECT_EQ(basic_tokenize("Cafe\u0301 北京", cased), (Words{"Caf\u00e9", "北京"}));  // composed (NFC)
}

TEST(BertTokenizerFiles, OptionsComeFromTokenizerConfig) {
  EXPECT_TRUE(tokenizer_of("bert-tiny").options().lower_case);
  const BertTokenizer cased = tokenizer_of("bert-cased");
  EXPECT_FALSE(cased.options().lower_case);
  EXPECT_FALSE(cased.options().strip_accents);  // null strip_accents follows do_lower_case
  EXPECT_TRUE(cased.options().split_chinese);
}

TEST(BertTokenizerFiles, MissingVocabularyNamesTheFile) {
  try {
    BertTokenizer t("/nonexistent/vocab.txt");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vocab.txt"), std::string::npos);
  }
}

}  // namespace
}  // namespace rerankd
