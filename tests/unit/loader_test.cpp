// Every malformed model directory the generator writes must fail to load with an Error of the
// listed kind whose message names the file at fault and the tensor or field (bad/manifest.json).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <limits>
#include <string>
#include <vector>
#include <tuple>

#include "common/error.h"
#include "common/error_class.h"
#include "engine/reranker.h"
#include "model/memory_estimate.h"
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
  for (const char* name : {"tiny", "tiny-f16", "tiny-bf16", "small", "bert-tiny", "bert-cased", "tiny-i64", "bert-tiny-i64"}) {
    RerankerOptions options;
    options.model_dir = testing::model_dir(name);
    EXPECT_NO_THROW(Reranker{options}) << name;
  }
}

// Older transformers saved embeddings.position_ids (arange) and token_type_ids (zeros) as I64
// tensors; they are checked and otherwise ignored, so the model scores bit for bit like the same
// weights without them. Pair by pair: offline scoring sizes its passes from the speed it measures,
// and another batch composition may sum in another order.
TEST(Loader, IndexBuffersScoreExactlyLikeTheModelWithout) {
  for (const std::string name : {"tiny", "bert-tiny"}) {
    const auto expected = testing::expected_pairs(name);
    RerankerOptions options;
    options.dtype = "float32";
    options.model_dir = testing::model_dir(name);
    Reranker without(options);
    options.model_dir = testing::model_dir(name + "-i64");
    Reranker with(options);
    for (size_t i = 0; i < expected.size(); ++i) {
      const std::vector<EncodedPair> pair{{expected[i].ids, expected[i].type_ids}};
      EXPECT_EQ(with.logits(pair), without.logits(pair)) << name << " pair " << i;
    }
  }
}

namespace {

// A safetensors file from (name, dtype, shape, raw bytes) entries laid back to back.
void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::tuple<std::string, std::string, std::string, std::string>>& entries) {
  std::string header = "{", data;
  for (const auto& [name, dtype, shape, bytes] : entries) {
    if (header.size() > 1) header += ",";
    header += "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
              std::to_string(data.size()) + "," + std::to_string(data.size() + bytes.size()) + "]}";
    data += bytes;
  }
  header += "}";
  const uint64_t n = header.size();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(&n), 8);
  out << header << data;
}

std::string int64s(std::initializer_list<int64_t> values) {
  std::string bytes;
  for (const int64_t v : values) bytes.append(reinterpret_cast<const char*>(&v), 8);
  return bytes;
}

}  // namespace

// Regression for the I64 path on hostile input: an I64 buffer at an odd offset is read without
// an aligned load; a float weight stored as I64, a buffer of the wrong values, one past the data
// and an I64 tensor nobody knows are each refused naming the tensor and the file.
TEST(Loader, IndexBuffersAreCheckedAndNeverWeights) {
  const auto dir = std::filesystem::temp_directory_path() / ("rerankd-i64-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "model.safetensors";
  const std::string half(2, '\0');  // one F16 zero: what follows it starts at an odd multiple of 2
  const auto message = [&](const auto& action) {
    try {
      action();
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::kModelFormat);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  write_safetensors(file, {{"w", "F16", "[1]", half}, {"bert.embeddings.position_ids", "I64", "[1,4]", int64s({0, 1, 2, 3})}});
  {
    Checkpoint ck = Checkpoint::open(dir);
    EXPECT_NO_THROW(ck.get("w", {1}));
    EXPECT_NO_THROW(ck.check_buffer("bert.embeddings.position_ids", 4, IndexPattern::kArange));
    EXPECT_NO_THROW(ck.check_buffer("bert.embeddings.token_type_ids", 4, IndexPattern::kZeros));  // absent: fine
    EXPECT_NO_THROW(ck.check_all_used());
    EXPECT_EQ(ck.dominant_dtype(), DType::kF16);  // buffers are not weights
    const std::string as_weight = message([&] { ck.get("bert.embeddings.position_ids", {1, 4}); });
    EXPECT_NE(as_weight.find("'bert.embeddings.position_ids' is stored as I64, where a float weight"), std::string::npos)
        << as_weight;
    EXPECT_NE(as_weight.find(file.string()), std::string::npos) << as_weight;
    const std::string zeros = message([&] { ck.check_buffer("bert.embeddings.position_ids", 4, IndexPattern::kZeros); });
    EXPECT_NE(zeros.find("holds 1 at [0, 1], not 0"), std::string::npos) << zeros;
    const std::string longer = message([&] { ck.check_buffer("bert.embeddings.position_ids", 5, IndexPattern::kArange); });
    EXPECT_NE(longer.find("has shape [1, 4], expected [1, 5]"), std::string::npos) << longer;
  }
  write_safetensors(file, {{"w", "F16", "[1]", half}, {"x.ids", "I64", "[2]", int64s({0, 1})}});
  {
    Checkpoint ck = Checkpoint::open(dir);
    ck.get("w", {1});
    const std::string unknown = message([&] { ck.check_all_used(); });
    EXPECT_NE(unknown.find("unexpected I64 tensor 'x.ids'"), std::string::npos) << unknown;
  }
  write_safetensors(file, {{"w", "F16", "[1]", half}, {"bert.embeddings.position_ids", "I64", "[1,4]", int64s({0, 1, 2})}});
  const std::string short_data = message([&] { Checkpoint::open(dir); });
  EXPECT_NE(short_data.find("'bert.embeddings.position_ids': data_offsets span 24 bytes but shape [1, 4] of I64 needs 32"),
            std::string::npos)
      << short_data;
  std::filesystem::remove_all(dir);
}

namespace {

// The process's resident file-backed pages, from /proc/self/status, in kB.
int64_t rss_file_kb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("RssFile:", 0) == 0) return std::stoll(line.substr(8));
  }
  return -1;
}

}  // namespace

// A backend releases a tensor's mapped pages once it holds its own copy, and the finiteness check
// releases a large tensor's as it goes: the pages leave the resident set, the values stay (they
// fault back in from the file), a NaN past the check's first 16 MB step is still found at its
// index, and a view outside a file mapping is never touched.
TEST(Loader, ReleasedPagesLeaveTheResidentSetAndReadBack) {
  const auto dir = std::filesystem::temp_directory_path() / ("rerankd-release-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  constexpr int64_t kCount = 5'000'000;  // 20 MB of float32: more than one step of the check
  std::vector<float> values(kCount);
  for (int64_t i = 0; i < kCount; ++i) values[static_cast<size_t>(i)] = static_cast<float>(i % 1000) * 0.5f;
  std::vector<float> bad = values;
  bad[4'500'000] = std::numeric_limits<float>::quiet_NaN();
  const auto bytes = [](const std::vector<float>& v) {
    return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  };
  const std::string shape = "[" + std::to_string(kCount) + "]";
  write_safetensors(dir / "model.safetensors", {{"ok", "F32", shape, bytes(values)}, {"bad", "F32", shape, bytes(bad)}});
  {
    Checkpoint ck = Checkpoint::open(dir);
    try {
      ck.get("bad", {kCount});
      ADD_FAILURE() << "a NaN in the second step went unseen";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("element 4500000 of 5000000"), std::string::npos) << e.what();
    }
    const int64_t before = rss_file_kb();
    const TensorView& view = ck.get("ok", {kCount});  // checked, in steps that were released
    EXPECT_TRUE(view.mapped);
    EXPECT_LT(rss_file_kb() - before, 8 * 1024) << "the check kept a 20 MB tensor resident";
    EXPECT_EQ(to_f32(view), values);  // the pages read back: 20 MB resident again
    const int64_t touched = rss_file_kb();
    release_pages(view);
    EXPECT_GT(touched - rss_file_kb(), 16 * 1024) << "release_pages left the pages resident";
    EXPECT_EQ(to_f32(view), values);
  }
  // Not file-mapped: release_pages must leave the memory alone (dropping it would zero it).
  TensorView heap;
  heap.name = "heap";
  heap.shape = {kCount};
  heap.data = reinterpret_cast<const std::byte*>(values.data());
  heap.nbytes = values.size() * sizeof(float);
  const std::vector<float> copy = values;
  release_pages(heap);
  EXPECT_EQ(values, copy);
  std::filesystem::remove_all(dir);
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
  options.batch.max_sequence_length = 30;
  EXPECT_EQ(Reranker(options).max_length(), 30u);  // "no limit" leaves the option in force
  std::filesystem::remove_all(dir);
}

// The weights' size comes from config.json alone: Qwen3-Reranker-0.6B's layers are 440.4M
// parameters (q 1024x2048, k and v 1024x1024, o 2048x1024, gate/up/down 3 x 1024x3072, 28 times),
// and a CPU reads the 151669-row token table in place from the file.
TEST(Loader, MemoryEstimateCountsTheLayersInTheComputePrecision) {
  ModelConfig c = load_model_config(testing::model_dir("qwen3-tiny") / "config.json");
  c.hidden_size = 1024, c.num_layers = 28, c.num_heads = 16, c.num_kv_heads = 8, c.decoder_head_dim = 128;
  c.intermediate_size = 3072, c.vocab_size = 151669;
  const int64_t layers = 28 * int64_t{15728640};
  EXPECT_EQ(estimate_memory(c, "float32", {}, false).weight_bytes, layers * 4);
  EXPECT_EQ(estimate_memory(c, "bfloat16", {}, false).weight_bytes, layers * 2);
  EXPECT_EQ(estimate_memory(c, "int8", {}, false).weight_bytes, layers);
  EXPECT_EQ(estimate_memory(c, "float16", {}, true).weight_bytes, (layers + 151669 * 1024) * 2);
}

// A model whose weights cannot fit is refused before any is read: this directory's config claims
// far more layers than its checkpoint (and any machine) holds, and the error is about memory.
TEST(Loader, AModelThatCannotFitIsRefusedBeforeLoading) {
  const auto dir = std::filesystem::temp_directory_path() / ("rerankd-huge-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::copy(testing::model_dir("qwen3-tiny"), dir);
  std::ifstream in(dir / "config.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string layers = "\"num_hidden_layers\": 3";
  const auto at = text.find(layers);
  ASSERT_NE(at, std::string::npos);
  text.replace(at, layers.size(), "\"num_hidden_layers\": 300000000");
  std::ofstream(dir / "config.json", std::ios::trunc) << text;
  RerankerOptions options;
  options.model_dir = dir;
  options.dtype = "float32";
  try {
    Reranker reranker(options);
    ADD_FAILURE() << "loaded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find("GiB for its weights in float32"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos) << e.what();
  }
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
