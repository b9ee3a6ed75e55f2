// Long documents by windows and FlagEmbedding's truncation against the float64 reference
// (expected/chunks-tiny.jsonl from tests/reference/reference.py's own windowing): the same pairs
// token for token, the same best window and byte span, and the scheduler's max within 1e-4.
#include <gtest/gtest.h>

#include <future>
#include <map>

#include "engine/document_chunks.h"
#include "engine/scheduler.h"
#include "tokenizer/bert_tokenizer.h"
#include "tokenizer/tokenizer_files.h"
#include "tokenizer/xlmr_tokenizer.h"
#include "test_data.h"

namespace rerankd {
namespace {

struct ChunkCase {
  std::string query, document;
  size_t max_length;
  TruncationRule rule;
  ChunkRequest chunks;
  double logit;
  size_t index, count, char_start, char_end;
  std::vector<std::vector<int32_t>> ids;
};

std::vector<ChunkCase> chunk_cases() {
  std::vector<ChunkCase> out;
  simdjson::dom::parser parser;
  for (const auto& line : testing::read_lines(testing::testdata_dir() / "expected" / "chunks-tiny.jsonl")) {
    auto o = parser.parse(line).get_object().value();
    ChunkCase c;
    c.query = std::string(std::string_view(o["query"]));
    c.document = std::string(std::string_view(o["document"]));
    c.max_length = static_cast<size_t>(int64_t(o["max_length"]));
    c.rule = std::string_view(o["truncation"]) == "flagembedding" ? TruncationRule::kFlagEmbedding
                                                                  : TruncationRule::kLongestFirst;
    auto chunking = o["chunking"].get_object().value();
    simdjson::dom::element e;
    // The reference's max_chunks None is "as many as max_tokens needs": the request leaves it out.
    if (chunking["max_chunks"].get(e) == simdjson::SUCCESS && !e.is_null()) c.chunks.max_chunks = size_t(int64_t(e));
    if (chunking["max_tokens"].get(e) == simdjson::SUCCESS && !e.is_null()) {
      c.chunks.max_document_tokens = size_t(int64_t(e));
    }
    if (chunking["overlap"].get(e) == simdjson::SUCCESS) c.chunks.overlap = size_t(int64_t(e));
    c.logit = double(o["logit"]);
    c.index = size_t(int64_t(o["index"]));
    c.count = size_t(int64_t(o["count"]));
    c.char_start = size_t(int64_t(o["char_start"]));
    c.char_end = size_t(int64_t(o["char_end"]));
    for (auto window : o["ids"].get_array()) c.ids.push_back(testing::int_array(window));
    out.push_back(std::move(c));
  }
  return out;
}

TEST(Chunks, PairsMatchTheReferenceTokenForToken) {
  const auto cases = chunk_cases();
  ASSERT_GT(cases.size(), 20u);
  XlmrTokenizer tokenizer(testing::model_dir("tiny") / "sentencepiece.bpe.model");
  for (const ChunkCase& c : cases) {
    SCOPED_TRACE(c.query.substr(0, 20) + " | " + c.document.substr(0, 30) + " @" + std::to_string(c.max_length));
    const PairPlan plan = resolve_plan(c.chunks, {}, c.rule, TruncationSide::kRight, c.max_length);
    const DocumentPairs doc = QueryPairs(tokenizer, c.query, plan).document(c.document);
    ASSERT_EQ(doc.pairs.size(), c.count);
    for (size_t k = 0; k < c.count; ++k) EXPECT_EQ(doc.pairs[k].pair.ids, c.ids[k]) << "window " << k;
    EXPECT_EQ(doc.pairs[c.index].char_start, c.char_start);
    EXPECT_EQ(doc.pairs[c.index].char_end, c.char_end);
  }
}

TEST(Chunks, SchedulerScoresADocumentByItsBestWindow) {
  std::map<size_t, std::vector<const ChunkCase*>> by_length;
  const auto cases = chunk_cases();
  for (const ChunkCase& c : cases) by_length[c.max_length].push_back(&c);
  for (const auto& [max_length, group] : by_length) {
    RerankerOptions ro;
    ro.model_dir = testing::model_dir("tiny");
    ro.dtype = "float32";
    ro.batch.max_sequence_length = static_cast<int64_t>(max_length);
    Reranker reranker(ro);
    SchedulerOptions so;
    so.max_queue_seconds = 1e6;
    Scheduler scheduler(reranker, so, nullptr);
    for (const ChunkCase* c : group) {
      SCOPED_TRACE(c->document.substr(0, 30) + " @" + std::to_string(max_length));
      RerankInput in;
      in.query = c->query;
      in.documents = {c->document};
      in.truncation = c->rule;
      in.chunks = c->chunks;
      std::promise<RerankResult> p;
      scheduler.submit(std::move(in), [&p](RerankResult r) { p.set_value(std::move(r)); });
      RerankResult r = p.get_future().get();
      ASSERT_TRUE(std::holds_alternative<RerankOutput>(r)) << std::get<Error>(r).what();
      const RerankOutput& out = std::get<RerankOutput>(r);
      EXPECT_NEAR(out.logits[0], c->logit, 1e-4);
      size_t tokens = 0;
      for (const auto& ids : c->ids) tokens += ids.size();
      EXPECT_EQ(out.total_tokens, tokens);
      EXPECT_EQ(out.chunks[0].count, c->count);
      EXPECT_EQ(out.chunks[0].index, c->index);
      EXPECT_EQ(out.chunks[0].char_start, c->char_start);
      EXPECT_EQ(out.chunks[0].char_end, c->char_end);
    }
  }
}

TEST(Chunks, RequestFieldsOverServerDefaults) {
  const ChunkRequest none, server{.max_chunks = 4, .max_document_tokens = 0, .overlap = 16};
  EXPECT_EQ(resolve_plan(none, none, TruncationRule::kLongestFirst, TruncationSide::kRight, 512).max_chunks, 1u);
  const PairPlan tokens_only = resolve_plan({.max_chunks = 0, .max_document_tokens = 4096, .overlap = {}}, none,
                                            TruncationRule::kLongestFirst, TruncationSide::kRight, 512);
  EXPECT_EQ(tokens_only.max_chunks, PairPlan::kAsManyAsNeeded);
  EXPECT_EQ(tokens_only.max_document_tokens, 4096u);
  const PairPlan defaults = resolve_plan(none, server, TruncationRule::kLongestFirst, TruncationSide::kRight, 512);
  EXPECT_EQ(defaults.max_chunks, 4u);
  EXPECT_EQ(defaults.overlap, 16u);
  EXPECT_FALSE(defaults.overlap_from_request);
  EXPECT_EQ(resolve_plan({.max_chunks = 2, .max_document_tokens = 0, .overlap = 0}, server,
                         TruncationRule::kLongestFirst, TruncationSide::kRight, 512)
                .max_chunks,
            2u);
}

TEST(Chunks, OnlyWhatTheCapsUseIsTokenized) {
  XlmrTokenizer tokenizer(testing::model_dir("tiny") / "sentencepiece.bpe.model");
  std::string huge;
  while (huge.size() < (size_t{1} << 20)) huge += "The giant panda lives in the mountains of central China. ";
  const PairPlan plan = resolve_plan({.max_chunks = 3, .max_document_tokens = 0, .overlap = 0}, {},
                                     TruncationRule::kLongestFirst, TruncationSide::kRight, 64);
  const QueryPairs query(tokenizer, "panda", plan);
  EXPECT_LT(query.tokens_to_read(), 200u);
  const DocumentPairs doc = query.document(huge);
  EXPECT_EQ(doc.pairs.size(), 3u);
  EXPECT_TRUE(doc.truncated);
  // The bounded encoding gives the whole text's first tokens, and where they lie.
  const std::optional<TokenizedText> prefix = tokenizer.encode_with_spans(huge, 150, TruncationSide::kRight);
  ASSERT_TRUE(prefix.has_value());
  std::vector<int32_t> whole = tokenizer.encode(huge.substr(0, 4000));
  whole.resize(150);
  EXPECT_EQ(prefix->ids, whole);
  ASSERT_EQ(prefix->spans.size(), 150u);
  EXPECT_EQ(tokenizer.encode(huge.substr(0, prefix->spans.back().second)), whole);
}

TEST(Chunks, SpansGoThroughTheAddedTokens) {
  XlmrTokenizer tokenizer(testing::model_dir("tiny") / "sentencepiece.bpe.model");
  const std::string text = "pandas <s> eat </s> bamboo";
  const std::optional<TokenizedText> t = tokenizer.encode_with_spans(text, 100, TruncationSide::kRight);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->ids, tokenizer.encode(text));
  ASSERT_EQ(t->spans.size(), t->ids.size());
  bool found = false;
  for (size_t i = 0; i < t->ids.size(); ++i) {
    if (t->ids[i] != XlmrTokenizer::kBos) continue;
    found = true;
    EXPECT_EQ(text.substr(t->spans[i].first, t->spans[i].second - t->spans[i].first), "<s>");
  }
  EXPECT_TRUE(found);
}

TEST(Chunks, AnOverlapTheWindowCannotHoldIsTheClientsError) {
  XlmrTokenizer tokenizer(testing::model_dir("tiny") / "sentencepiece.bpe.model");
  const PairPlan plan = resolve_plan({.max_chunks = 3, .max_document_tokens = 0, .overlap = 60}, {},
                                     TruncationRule::kLongestFirst, TruncationSide::kRight, 64);
  try {
    QueryPairs(tokenizer, "panda", plan);
    FAIL() << "expected kUnprocessable";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kUnprocessable);
    EXPECT_NE(std::string(e.what()).find("chunk_overlap_tokens"), std::string::npos);
  }
}

// BERT's pairs have three special tokens and token types; chunks and FlagEmbedding's rule go
// through the PairTokenizer, and only return_chunks (which needs byte spans) is refused.
TEST(Chunks, BertWindowsUseItsPairTemplate) {
  const BertTokenizer tokenizer(testing::model_dir("bert-tiny") / "vocab.txt",
                                read_tokenizer_files(testing::model_dir("bert-tiny")));
  std::string document;
  while (document.size() < 2000) document += "the giant panda lives in the mountains of central china. ";
  const std::vector<int32_t> doc = tokenizer.encode(document), query = tokenizer.encode("panda food");
  const size_t max_length = 32, window = max_length - 3 - query.size();
  const PairPlan plan = resolve_plan({.max_chunks = 3, .max_document_tokens = 0, .overlap = 4}, {},
                                     TruncationRule::kLongestFirst, TruncationSide::kRight, max_length);
  const DocumentPairs pairs = QueryPairs(tokenizer, "panda food", plan).document(document);
  ASSERT_EQ(pairs.pairs.size(), 3u);
  EXPECT_TRUE(pairs.truncated);
  for (size_t k = 0; k < 3; ++k) {
    const auto begin = doc.begin() + static_cast<std::ptrdiff_t>(k * (window - 4));
    const EncodedPair expected = tokenizer.assemble_pair(query, {begin, begin + static_cast<std::ptrdiff_t>(window)}, max_length);
    EXPECT_EQ(pairs.pairs[k].pair.ids, expected.ids) << "window " << k;
    EXPECT_EQ(pairs.pairs[k].pair.type_ids, expected.type_ids) << "window " << k;
  }

  const PairPlan flag = resolve_plan({}, {}, TruncationRule::kFlagEmbedding, TruncationSide::kRight, max_length);
  const std::string long_query = document.substr(0, 400);
  const DocumentPairs cut = QueryPairs(tokenizer, long_query, flag).document(document);
  ASSERT_EQ(cut.pairs.size(), 1u);
  const std::vector<int32_t> q = tokenizer.encode(long_query);
  const EncodedPair expected = tokenizer.assemble_pair({q.begin(), q.begin() + 24}, {doc.begin(), doc.begin() + 5}, max_length);
  EXPECT_EQ(cut.pairs[0].pair.ids, expected.ids);  // the query to 32 * 3 / 4, the document the rest
  EXPECT_EQ(cut.pairs[0].pair.type_ids, expected.type_ids);

  PairPlan spans = plan;
  spans.return_chunks = true;
  try {
    QueryPairs(tokenizer, "panda", spans);
    FAIL() << "expected kUnprocessable";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kUnprocessable);
    EXPECT_NE(std::string(e.what()).find("return_chunks"), std::string::npos);
  }
}

}  // namespace
}  // namespace rerankd
