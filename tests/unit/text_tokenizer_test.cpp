// The decoder rerankers' text tokenizers against ids from the independent references
// (tests/reference/bpe_tokenizer.py, spm_text_tokenizer.py; tests/web/tokenizers.test.mjs checks
// those against Hugging Face's own library), and every refusal of a tokenizer.json.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <atomic>
#include <thread>

#include <unistd.h>

#include "common/error.h"
#include "test_data.h"
#include "tokenizer/byte_level_bpe.h"
#include "tokenizer/sentencepiece_text.h"
#include "tokenizer/text_tokenizer.h"

namespace rerankd {
namespace {

std::filesystem::path tokenizers_dir() { return testing::testdata_dir() / "text_tokenizers"; }

struct Case {
  std::string text;
  std::vector<int32_t> ids;
};

std::vector<Case> cases_of(const std::filesystem::path& dir) {
  std::vector<Case> out;
  simdjson::dom::parser parser;
  for (const auto& line : testing::read_lines(dir / "tokenizer-cases.jsonl")) {
    auto obj = parser.parse(line).get_object().value();
    out.push_back({std::string(std::string_view(obj["text"])), testing::int_array(obj["ids"])});
  }
  return out;
}

// Spans are in order, inside the text, and cover it: what a chunker needs of them.
void expect_sane_spans(const TokenizedText& t, std::string_view text) {
  ASSERT_EQ(t.spans.size(), t.ids.size());
  uint32_t last_begin = 0;
  for (const auto& [begin, end] : t.spans) {
    EXPECT_LE(last_begin, begin);
    EXPECT_LE(begin, end);
    EXPECT_LE(end, text.size());
    last_begin = begin;
  }
}

class ByteLevelBpeCases : public ::testing::TestWithParam<std::string> {};

TEST_P(ByteLevelBpeCases, MatchesReferenceOnEveryCase) {
  const auto dir = tokenizers_dir() / GetParam();
  const ByteLevelBpe tokenizer = ByteLevelBpe::load(dir / "tokenizer.json");
  const auto cases = cases_of(dir);
  ASSERT_GT(cases.size(), 90u);
  for (const Case& c : cases) {
    EXPECT_EQ(tokenizer.encode(c.text), c.ids) << "text: " << c.text;
    const TokenizedText spans = tokenizer.encode_with_spans(c.text);
    EXPECT_EQ(spans.ids, c.ids) << "text: " << c.text;
    expect_sane_spans(spans, c.text);
    for (int32_t id : c.ids) EXPECT_LE(id, tokenizer.max_id());
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, ByteLevelBpeCases,
                         ::testing::Values("qwen", "variants/added-flags", "variants/ignore-merges", "variants/gpt2"),
                         [](const ::testing::TestParamInfo<std::string>& param) {
                           std::string name = param.param;
                           for (char& c : name) if (c == '/' || c == '-') c = '_';
                           return name;
                         });

TEST(ByteLevelBpe, QwenLayoutIdsAndSpans) {
  const ByteLevelBpe tokenizer = ByteLevelBpe::load(tokenizers_dir() / "qwen" / "tokenizer.json");
  EXPECT_EQ(tokenizer.post_processor(), "ByteLevel");
  const auto end = tokenizer.token_id("<|im_end|>");
  ASSERT_TRUE(end.has_value());
  EXPECT_EQ(tokenizer.token_id("</think>"), tokenizer.max_id());
  EXPECT_EQ(tokenizer.token_id("!"), 0);
  EXPECT_FALSE(tokenizer.token_id("no such token").has_value());
  const std::string text = "x <|im_end|>";
  const TokenizedText t = tokenizer.encode_with_spans(text);
  ASSERT_EQ(t.ids.back(), *end);
  EXPECT_EQ(t.spans.back(), std::make_pair(2u, static_cast<uint32_t>(text.size())));
  // NFC merges "e" + U+0301 into one character: its tokens span both source characters.
  const std::string decomposed = "e\xCC\x81";
  const TokenizedText n = tokenizer.encode_with_spans(decomposed);
  ASSERT_FALSE(n.ids.empty());
  EXPECT_EQ(n.spans.front().first, 0u);
  EXPECT_EQ(n.spans.back().second, decomposed.size());
  EXPECT_EQ(n.ids, tokenizer.encode("\xC3\xA9"));
}

TEST(ByteLevelBpe, RefusesInvalidUtf8) {
  const ByteLevelBpe tokenizer = ByteLevelBpe::load(tokenizers_dir() / "qwen" / "tokenizer.json");
  try {
    tokenizer.encode("ab\xC3(");
    FAIL() << "invalid UTF-8 was encoded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kInvalidInput);
  }
}

TEST(ByteLevelBpe, SharedAcrossThreads) {
  const ByteLevelBpe tokenizer = ByteLevelBpe::load(tokenizers_dir() / "qwen" / "tokenizer.json");
  const auto cases = cases_of(tokenizers_dir() / "qwen");
  std::vector<std::thread> threads;
  std::atomic<int> wrong = 0;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < 3; ++round) {
        for (const Case& c : cases) wrong += tokenizer.encode(c.text) != c.ids;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong, 0);
}

TEST(SentencePieceText, MatchesReferenceOnEveryCase) {
  const auto dir = tokenizers_dir() / "gemma";
  const auto tokenizer = load_text_tokenizer(dir);
  ASSERT_NE(dynamic_cast<const SentencePieceText*>(tokenizer.get()), nullptr);
  const auto cases = cases_of(dir);
  ASSERT_GT(cases.size(), 90u);
  for (const Case& c : cases) {
    EXPECT_EQ(tokenizer->encode(c.text), c.ids) << "text: " << c.text;
    const TokenizedText spans = tokenizer->encode_with_spans(c.text);
    EXPECT_EQ(spans.ids, c.ids) << "text: " << c.text;
    expect_sane_spans(spans, c.text);
  }
  EXPECT_EQ(tokenizer->token_id("<pad>"), 0);
  EXPECT_EQ(tokenizer->token_id("<eos>"), 1);
  EXPECT_EQ(tokenizer->token_id("<bos>"), 2);
  EXPECT_EQ(tokenizer->token_id("<unk>"), 3);
  EXPECT_TRUE(tokenizer->token_id("<start_of_turn>").has_value());
  EXPECT_FALSE(tokenizer->token_id("no such piece").has_value());
}

TEST(SentencePieceText, DefaultAddedTokensAreTheControlPieces) {
  const SentencePieceText tokenizer = SentencePieceText::load(tokenizers_dir() / "gemma" / "tokenizer.model");
  EXPECT_EQ(tokenizer.encode("<bos>"), std::vector<int32_t>{2});
  EXPECT_EQ(tokenizer.encode("<eos><pad>"), (std::vector<int32_t>{1, 0}));
}

TEST(TextTokenizer, LoadPicksByteLevelBpeWithoutTokenizerModel) {
  const auto tokenizer = load_text_tokenizer(tokenizers_dir() / "qwen");
  EXPECT_NE(dynamic_cast<const ByteLevelBpe*>(tokenizer.get()), nullptr);
}

// ---- Small tokenizer.json files written here, one change each. ----

struct Json {
  std::string normalizer = R"({"type": "NFC"})";
  std::string pre_tokenizer =
      R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\s+|\\S+"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}]})";
  std::string model_type = R"("BPE")";
  std::string model_options = R"("dropout": null, "unk_token": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false)";
  std::string vocab = R"({"a": 0, "b": 1, "ab": 2, "aa": 3, "<unk>": 4, "\u0120": 5})";
  std::string merges = R"(["a b", ["a", "a"]])";
  std::string added_tokens = R"([{"id": 6, "content": "<s>", "special": true, "normalized": false}])";

  std::string text() const {
    return R"({"version": "1.0", "added_tokens": )" + added_tokens + R"(, "normalizer": )" + normalizer +
           R"(, "pre_tokenizer": )" + pre_tokenizer + R"(, "post_processor": null, "decoder": null, "model": {"type": )" +
           model_type + ", " + model_options + R"(, "vocab": )" + vocab + R"(, "merges": )" + merges + "}}";
  }
};

class TokenizerJsonFiles : public ::testing::Test {
 protected:
  std::filesystem::path write(const std::string& text) {
    const auto path = dir_ / ("tokenizer-" + std::to_string(n_++) + ".json");
    std::ofstream(path) << text;
    return path;
  }
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("rerankd-tokjson-" + std::to_string(::getpid()) + "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  int n_ = 0;
};

TEST_F(TokenizerJsonFiles, MergesByRankLeftmostFirst) {
  Json j;
  const ByteLevelBpe t = ByteLevelBpe::load(write(j.text()));
  EXPECT_EQ(t.encode("aaa"), (std::vector<int32_t>{3, 0}));
  EXPECT_EQ(t.encode("aab"), (std::vector<int32_t>{0, 2}));  // "a b" ranks before "a a"
  EXPECT_EQ(t.encode("ab<s>"), (std::vector<int32_t>{2, 6}));
  EXPECT_EQ(t.max_id(), 6);
  EXPECT_EQ(t.post_processor(), "");
}

TEST_F(TokenizerJsonFiles, UnknownBytes) {
  Json j;
  EXPECT_EQ(ByteLevelBpe::load(write(j.text())).encode("zzab"), (std::vector<int32_t>{2}));  // no unk token: dropped
  j.model_options = R"("unk_token": "<unk>", "fuse_unk": false)";
  EXPECT_EQ(ByteLevelBpe::load(write(j.text())).encode("zzab"), (std::vector<int32_t>{4, 4, 2}));
  j.model_options = R"("unk_token": "<unk>", "fuse_unk": true)";
  EXPECT_EQ(ByteLevelBpe::load(write(j.text())).encode("zzab"), (std::vector<int32_t>{4, 2}));
}

TEST_F(TokenizerJsonFiles, IgnoreMerges) {
  Json j;
  j.vocab = R"({"a": 0, "b": 1, "ab": 2, "aa": 3, "bab": 4})";
  EXPECT_EQ(ByteLevelBpe::load(write(j.text())).encode("bab"), (std::vector<int32_t>{1, 2}));
  j.model_options = R"("ignore_merges": true)";
  EXPECT_EQ(ByteLevelBpe::load(write(j.text())).encode("bab"), (std::vector<int32_t>{4}));
}

TEST_F(TokenizerJsonFiles, MissingFileIsIo) {
  try {
    ByteLevelBpe::load(dir_ / "absent.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kIo);
  }
}

TEST_F(TokenizerJsonFiles, EveryRefusalNamesTheFileAndField) {
  struct Refusal {
    std::string json, field;
  };
  const auto with = [](auto change) {
    Json j;
    change(j);
    return j.text();
  };
  const std::string byte_level = R"({"type": "ByteLevel", "add_prefix_space": false, "use_regex": false})";
  const std::vector<Refusal> refusals = {
      {with([](Json& j) { j.normalizer = R"({"type": "NFKC"})"; }), "'normalizer.type' is 'NFKC': not supported"},
      {with([](Json& j) { j.normalizer = R"({"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Lowercase"}]})"; }),
       "'normalizer.normalizers[1].type' is 'Lowercase'"},
      {with([](Json& j) { j.normalizer = R"({"kind": "NFC"})"; }), "'normalizer.type' is missing"},
      {with([](Json& j) { j.normalizer = R"("NFC")"; }), "'normalizer' must be an object"},
      {with([](Json& j) { j.pre_tokenizer = "null"; }), "'pre_tokenizer' is missing or null"},
      {with([](Json& j) { j.pre_tokenizer = R"({"type": "Metaspace"})"; }), "'pre_tokenizer.type' is 'Metaspace'"},
      {with([&](Json& j) { j.pre_tokenizer = R"({"type": "Sequence", "pretokenizers": [{"type": "Whitespace"}, )" + byte_level + "]}"; }),
       "'pre_tokenizer.pretokenizers[0].type' is 'Whitespace'"},
      {with([&](Json& j) { j.pre_tokenizer = R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Removed"}, )" + byte_level + "]}"; }),
       "'pre_tokenizer.pretokenizers[0].behavior' is 'Removed'"},
      {with([&](Json& j) { j.pre_tokenizer = R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Isolated", "invert": true}, )" + byte_level + "]}"; }),
       "'pre_tokenizer.pretokenizers[0].invert' is 'true'"},
      {with([&](Json& j) { j.pre_tokenizer = R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"String": " "}, "behavior": "Isolated"}, )" + byte_level + "]}"; }),
       "'pre_tokenizer.pretokenizers[0].pattern' is 'String'"},
      {with([&](Json& j) { j.pre_tokenizer = R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated"}, )" + byte_level + "]}"; }),
       "'pre_tokenizer.pretokenizers[0].pattern.Regex' is not a regex"},
      {with([&](Json& j) { j.pre_tokenizer = R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "behavior": "Isolated"}, )" + byte_level + "]}"; }),
       "'pre_tokenizer.pretokenizers[0].pattern' is missing"},
      {with([](Json& j) { j.pre_tokenizer = R"({"type": "ByteLevel", "add_prefix_space": true})"; }),
       "'pre_tokenizer.add_prefix_space' is 'true'"},
      {with([](Json& j) { j.pre_tokenizer = R"({"type": "ByteLevel", "use_regex": "yes"})"; }),
       "'pre_tokenizer.use_regex' must be true or false"},
      {with([&](Json& j) { j.pre_tokenizer = R"({"type": "Sequence", "pretokenizers": [)" + byte_level + R"(, {"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Isolated"}]})"; }),
       "'pre_tokenizer.pretokenizers[1].type' is 'Split': not supported (nothing may follow ByteLevel)"},
      {with([](Json& j) { j.pre_tokenizer = R"({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Isolated"}]})"; }),
       "'pre_tokenizer.pretokenizers' has no ByteLevel step"},
      {with([](Json& j) { j.pre_tokenizer = R"({"type": "Sequence", "pretokenizers": {}})"; }),
       "'pre_tokenizer.pretokenizers' must be an array"},
      {with([](Json& j) { j.model_type = R"("WordPiece")"; }), "'model.type' is 'WordPiece'"},
      {with([](Json& j) { j.model_type = "3"; }), "'model.type' must be a string"},
      {with([](Json& j) { j.model_options = R"("byte_fallback": true)"; }), "'model.byte_fallback' is 'true'"},
      {with([](Json& j) { j.model_options = R"("dropout": 0.1)"; }), "'model.dropout' is '0.1"},
      {with([](Json& j) { j.model_options = R"("dropout": "x")"; }), "'model.dropout' must be a number or null"},
      {with([](Json& j) { j.model_options = R"("continuing_subword_prefix": "##")"; }),
       "'model.continuing_subword_prefix' is '##'"},
      {with([](Json& j) { j.model_options = R"("end_of_word_suffix": "</w>")"; }), "'model.end_of_word_suffix' is '</w>'"},
      {with([](Json& j) { j.model_options = R"("ignore_merges": "no")"; }), "'model.ignore_merges' must be true or false"},
      {with([](Json& j) { j.model_options = R"("fuse_unk": 1)"; }), "'model.fuse_unk' must be true or false"},
      {with([](Json& j) { j.model_options = R"("unk_token": "<nope>")"; }), "'model.unk_token' names '<nope>'"},
      {with([](Json& j) { j.model_options = R"("unk_token": 5)"; }), "'model.unk_token' must be a string"},
      {with([](Json& j) { j.vocab = "null"; }), "'model.vocab' is missing"},
      {with([](Json& j) { j.vocab = "[]"; }), "'model.vocab' must be an object"},
      {with([](Json& j) { j.vocab = R"({"a": "zero"})"; }), "'model.vocab.a' must be an integer"},
      {with([](Json& j) { j.vocab = R"({"a": -1})"; }), "'model.vocab.a' must be a token id"},
      {with([](Json& j) { j.merges = "null"; }), "'model.merges' is missing"},
      {with([](Json& j) { j.merges = R"(["a b c"])"; }), "'model.merges[0]' must be two tokens"},
      {with([](Json& j) { j.merges = R"(["ab"])"; }), "'model.merges[0]' must be two tokens"},
      {with([](Json& j) { j.merges = R"([["a"]])"; }), "'model.merges[0]' must be \"left right\""},
      {with([](Json& j) { j.merges = R"([7])"; }), "'model.merges[0]' must be \"left right\""},
      {with([](Json& j) { j.merges = R"(["a b", "b q"])"; }), "'model.merges[1]' uses 'q'"},
      {with([](Json& j) { j.merges = R"(["b a"])"; }), "'model.merges[0]' uses 'ba'"},
      {with([](Json& j) { j.added_tokens = "{}"; }), "'added_tokens' must be an array"},
      {with([](Json& j) { j.added_tokens = R"([{"id": 6}])"; }), "'added_tokens[0].content' must be a non-empty string"},
      {with([](Json& j) { j.added_tokens = R"([{"id": 6, "content": "x", "lstrip": "yes"}])"; }),
       "'added_tokens[0].lstrip' must be true or false"},
      {with([](Json& j) { j.added_tokens = R"([{"content": "x"}])"; }), "'added_tokens[0].id' must be an integer"},
      {R"({"version": "1.0", "normalizer": null, "pre_tokenizer": {"type": "ByteLevel"}})", "'model' is missing"},
      {R"({"model": "BPE", "pre_tokenizer": {"type": "ByteLevel"}})", "'model' must be an object"},
      {R"({"model": {"vocab": {}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}})", "'model.type' is missing"},
      {"[1, 2]", "top level must be a JSON object"},
      {"{\"model\": ", "not valid JSON"},
      {"", "not valid JSON"},
  };
  for (const Refusal& r : refusals) {
    const auto path = write(r.json);
    try {
      ByteLevelBpe::load(path);
      ADD_FAILURE() << "loaded: " << r.json;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::kModelFormat) << e.what();
      EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(r.field), std::string::npos) << "expected '" << r.field << "' in: " << e.what();
    }
  }
}

}  // namespace
}  // namespace rerankd
