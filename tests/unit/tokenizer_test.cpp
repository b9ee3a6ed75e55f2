// The tokenizer against ids from the independent reference (python sentencepiece + fairseq
// mapping + Hugging Face's longest_first), and truncation invariants.
#include <gtest/gtest.h>

#include <algorithm>

#include "common/error.h"
#include "test_data.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/tokenizer_files.h"
#include "tokenizer/xlmr_tokenizer.h"

namespace rerankd {
namespace {

using testing::testdata_dir;

XlmrTokenizer tokenizer_of(const std::string& model) {
  return XlmrTokenizer(testing::model_dir(model) / "sentencepiece.bpe.model",
                       read_tokenizer_files(testing::model_dir(model)));
}

class TokenizerTest : public ::testing::Test {
 protected:
  XlmrTokenizer tokenizer = tokenizer_of("tiny");
};

TEST_F(TokenizerTest, MatchesReferenceIds) {
  simdjson::dom::parser parser;
  size_t texts = 0, pairs = 0;
  for (const auto& line : testing::read_lines(testdata_dir() / "expected" / "tokenizer.jsonl")) {
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
      EXPECT_EQ(tokenizer.encode_pair(q, d, max_length).ids, expected)
          << "query: " << q << " document: " << d << " max_length: " << max_length;
      ++pairs;
    }
  }
  EXPECT_GT(texts, 5u);
  EXPECT_GT(pairs, 5u);
}

TEST_F(TokenizerTest, PairTemplateAndSpecialIds) {
  const auto pair = tokenizer.encode_pair("a", "b", 512);
  ASSERT_GE(pair.ids.size(), 6u);
  EXPECT_EQ(pair.ids.front(), XlmrTokenizer::kBos);
  EXPECT_EQ(pair.ids.back(), XlmrTokenizer::kEos);
  EXPECT_FALSE(pair.truncated);
}

TEST_F(TokenizerTest, EmptyAndWhitespaceTextsGiveOnlySpecials) {
  EXPECT_TRUE(tokenizer.encode("").empty());
  EXPECT_TRUE(tokenizer.encode("   \t ").empty());
  const auto pair = tokenizer.encode_pair("", "", 512);
  EXPECT_EQ(pair.ids, (std::vector<int32_t>{0, 2, 2, 2}));
}

TEST(Truncation, LongestFirstLikeHuggingFaceFastTokenizer) {
  auto lengths = [](size_t q, size_t d, size_t max_length) {
    std::vector<int32_t> query(q, 10), document(d, 20);
    truncate_longest_first(query, document, max_length, TruncationSide::kRight);
    return std::pair{query.size(), document.size()};
  };
  // The cases of tokenizers' own unit test (max_length 7 without specials).
  EXPECT_EQ(lengths(2, 8, 7), std::pair(size_t{2}, size_t{5}));
  EXPECT_EQ(lengths(4, 4, 7), std::pair(size_t{3}, size_t{4}));
  EXPECT_EQ(lengths(4, 8, 7), std::pair(size_t{3}, size_t{4}));
  EXPECT_EQ(lengths(8, 2, 7), std::pair(size_t{5}, size_t{2}));
  EXPECT_EQ(lengths(8, 4, 7), std::pair(size_t{4}, size_t{3}));
  EXPECT_EQ(lengths(8, 8, 7), std::pair(size_t{3}, size_t{4}));
  EXPECT_EQ(lengths(0, 8, 7), std::pair(size_t{0}, size_t{7}));
  EXPECT_EQ(lengths(3, 3, 7), std::pair(size_t{3}, size_t{3}));
}

TEST_F(TokenizerTest, LeftSideKeepsTheEnd) {
  const auto pair = tokenizer.assemble_pair({10, 11}, {20, 21, 22, 23, 24, 25}, 4 + 5, TruncationSide::kLeft);
  EXPECT_TRUE(pair.truncated);
  EXPECT_EQ(pair.ids, (std::vector<int32_t>{0, 10, 11, 2, 2, 23, 24, 25, 2}));
}

TEST_F(TokenizerTest, VeryLongTextsRespectMaxLength) {
  std::string long_text;
  for (int i = 0; i < 3000; ++i) long_text += "panda 熊猫 🐼 ";
  for (size_t max_length : {8u, 33u, 128u, 512u}) {
    const auto pair = tokenizer.encode_pair(long_text, long_text, max_length);
    EXPECT_EQ(pair.ids.size(), max_length);
    EXPECT_TRUE(pair.truncated);
  }
}

// encode(text, K, side) reads only a window of the text; its ids must be the first (last) K of
// the whole text's, which MatchesReferenceIds ties to the reference tokenizer.
TEST_F(TokenizerTest, BoundedEncodingKeepsTheWholeTextsIds) {
  std::string spaced, unbroken_ascii, unbroken_cjk, unbroken_mixed, spaced_then_word;
  for (int i = 0; i < 2000; ++i) {
    spaced += (i % 7 == 0 ? "The giant panda, 熊猫 🐼 Привет  мир\n" : "is a bear species endemic to China. ");
    unbroken_ascii += "pandabamboo" + std::to_string(i % 13);
    unbroken_cjk += "大熊猫是一种熊";
    unbroken_mixed += "панда熊猫🐼e\u0301";
  }
  spaced_then_word = "a " + unbroken_ascii;  // a space too near the start to cut at
  for (const std::string* text : {&spaced, &unbroken_ascii, &unbroken_cjk, &unbroken_mixed, &spaced_then_word}) {
    const std::vector<int32_t> whole = tokenizer.encode(*text);
    for (size_t k : {1u, 5u, 29u, 509u, 2000u}) {
      ASSERT_GT(whole.size(), k);
      const std::vector<int32_t> first(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(k));
      const std::vector<int32_t> last(whole.end() - static_cast<std::ptrdiff_t>(k), whole.end());
      EXPECT_EQ(tokenizer.encode(*text, k, TruncationSide::kRight), first) << text->substr(0, 40) << " k=" << k;
      EXPECT_EQ(tokenizer.encode(*text, k, TruncationSide::kLeft), last) << text->substr(0, 40) << " k=" << k;
    }
    EXPECT_EQ(tokenizer.encode(*text, whole.size() + 1, TruncationSide::kRight), whole);
    EXPECT_EQ(tokenizer.count(*text), whole.size()) << text->substr(0, 40);
  }
}

// longest_first gives an odd budget's extra token to the longer text: with both texts past the
// budget, only their whole lengths say which, and encode_pair must still agree with the ids of
// the whole texts.
TEST_F(TokenizerTest, OddBudgetWithBothTextsCutKeepsTheLongerSide) {
  std::string shorter, longer;
  for (int i = 0; i < 300; ++i) shorter += "panda bamboo ";
  longer = shorter + shorter;
  for (size_t max_length : {9u, 17u, 33u}) {
    for (const auto& [q, d] : {std::pair{&shorter, &longer}, std::pair{&longer, &shorter}}) {
      const EncodedPair bounded = tokenizer.encode_pair(*q, *d, max_length);
      const EncodedPair whole = tokenizer.assemble_pair(tokenizer.encode(*q), tokenizer.encode(*d), max_length);
      EXPECT_EQ(bounded.ids, whole.ids) << max_length;
    }
  }
}

// Special tokens written in a text: the files' defaults and XLM-R's built-in ones give the same ids,
// and an added token only the `small` model's files list (with rstrip) is honoured.
TEST_F(TokenizerTest, BuiltInSpecialTokensMatchTheFiles) {
  const XlmrTokenizer built_in(testing::model_dir("tiny") / "sentencepiece.bpe.model");
  for (const char* text : {"hello <mask> world", "a<s>b", "<pad><unk></s></s>", "  <mask>  x", "<<s>>"}) {
    EXPECT_EQ(built_in.encode(text), tokenizer.encode(text)) << text;
  }
  EXPECT_EQ(tokenizer.encode("<s>"), (std::vector<int32_t>{XlmrTokenizer::kBos}));
  EXPECT_EQ(tokenizer.encode("<mask>"), (std::vector<int32_t>{tokenizer.max_id()}));
}

TEST(AddedTokensFromFiles, MatchReferenceIds) {
  const XlmrTokenizer small = tokenizer_of("small");
  simdjson::dom::parser parser;
  size_t texts = 0;
  for (const auto& line : testing::read_lines(testdata_dir() / "expected" / "tokenizer-small.jsonl")) {
    auto obj = parser.parse(line).get_object().value();
    const std::string_view text = obj["text"];
    EXPECT_EQ(small.encode(text), testing::int_array(obj["ids"])) << "text: " << text;
    ++texts;
  }
  EXPECT_GE(texts, 3u);
}

TEST(AddedTokenSplitter, LeftmostLongestWithStripping) {
  const AddedTokenSplitter splitter({{"<s>", 0}, {"<s>x", 7}, {"<m>", 4, /*lstrip=*/true}, {"<r>", 5, false, true}});
  auto render = [&](std::string_view text) {
    std::string out;
    for (const TextSegment& s : splitter.split(text)) {
      if (s.token_id >= 0) out.append("#").append(std::to_string(s.token_id));
      else out.append("[").append(s.text).append("]");
    }
    return out;
  };
  EXPECT_EQ(render("a<s>xb<s>"), "[a]#7[b]#0");      // the longer token where both start
  EXPECT_EQ(render("a \t<m> b"), "[a]#4[ b]");       // lstrip takes the whitespace before
  EXPECT_EQ(render("a <r> \u3000b"), "[a ]#5[b]");   // rstrip the (Unicode) whitespace after
  EXPECT_EQ(render("<r>  <m>x"), "#5#4[x]");          // whitespace is not taken twice
  EXPECT_EQ(render("<s"), "[<s]");
  EXPECT_EQ(render(""), "");
}

TEST(TokenizerFile, MissingModelNamesTheFile) {
  try {
    XlmrTokenizer t("/nonexistent/sentencepiece.bpe.model");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sentencepiece.bpe.model"), std::string::npos);
  }
}

}  // namespace
}  // namespace rerankd
