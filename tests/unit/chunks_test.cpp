// Long documents by windows and FlagEmbedding's truncation against the float64 reference
// (expected/chunks-tiny.jsonl from tests/reference/reference.py's own windowing): the same pairs
// token for token, the same best window and byte span, and the scheduler's max within 1e-4.
#include <gtest/gtest.h>

#include <future>
#include <map>

#include "engine/document_chunks.h"
#include "engine/scheduler.h"
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
    ro.max_length = max_length;
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
  // The prefix gives the whole text's first tokens.
  bool cut = false;
  const TokenizedText prefix = encode_prefix(tokenizer, huge, 150, cut);
  EXPECT_TRUE(cut);
  std::vector<int32_t> whole = tokenizer.encode(huge.substr(0, 4000));
  whole.resize(150);
  EXPECT_EQ(prefix.ids, whole);
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

}  // namespace
}  // namespace rerankd
