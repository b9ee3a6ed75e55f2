#pragma once
// A loaded reranker: tokenizer + model graph + the backend that runs it, and the offline scoring
// path (tokenize, batch with the same BatchPolicy as the server, forward). The server's scheduler drives the same parts
// from its own threads. Construction throws Error naming the file and field at fault.
#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/batch_policy.h"
#include "kernels/backend.h"
#include "model/cross_encoder.h"
#include "tokenizer/pair_tokenizer.h"

namespace rerankd {

struct RerankerOptions {
  std::filesystem::path model_dir;
  std::string device = "cpu";  // cpu | cuda | cuda:N (kernels/backend_factory.h)
  int threads = 0;           // CPU compute threads; 0 = one per physical core
  std::string dtype = "auto";  // auto | float32 | float16 | bfloat16 | int8, as the device allows
  // batch.max_sequence_length: tokens per pair, clamped to the tokenizer files' model_max_length
  // and to what the model's positions allow (max_length()).
  BatchBounds batch;
};

struct ScoredPair {
  float logit = 0;
  float score = 0;  // sigmoid(logit): FlagEmbedding's compute_score(normalize=True)
  bool truncated = false;
  size_t tokens = 0;
};

class Reranker {
 public:
  explicit Reranker(const RerankerOptions& options);
  ~Reranker();

  const ModelConfig& config() const { return model_->config(); }
  const PairTokenizer& tokenizer() const { return *tokenizer_; }
  CrossEncoder& model() { return *model_; }
  size_t max_length() const { return max_length_; }
  const RerankerOptions& options() const { return options_; }
  std::string precision() const { return backend_->precision(); }  // what `dtype` resolved to
  const std::string& precision_reason() const { return precision_reason_; }  // why `dtype` resolved so
  std::string device() const { return backend_->name(); }  // "cpu", "cuda:0"
  std::string backend_description() const { return backend_->describe(); }
  int compute_threads() const { return backend_->threads(); }  // what `threads` resolved to
  int pass_slots() const { return backend_->pass_slots(); }    // passes the backend can have in flight

  // The pair as the model takes it; `instruction` only for a decoder reranker's prompt (empty: its
  // default). Throws Error(kInvalidInput) for an instruction to a cross-encoder.
  EncodedPair encode(std::string_view query, std::string_view document, std::string_view instruction = {}) const;

  // Logits of already-encoded pairs, batched by length; `progress(done, total)` after each batch.
  std::vector<float> logits(std::span<const EncodedPair> pairs,
                            const std::function<void(size_t, size_t)>& progress = {});

  struct Pair {
    std::string_view query, document;
    std::string_view instruction = {};  // a decoder reranker's; empty: its default
  };
  std::vector<ScoredPair> score(std::span<const Pair> pairs, const std::function<void(size_t, size_t)>& progress = {});

 private:
  RerankerOptions options_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<CrossEncoder> model_;
  std::unique_ptr<PairTokenizer> tokenizer_;
  std::string precision_reason_;
  size_t max_length_ = 0;
};

// Inline so that code that only formats scores (the request parsers' fuzzer) needs no engine.
inline float sigmoid(float logit) { return 1.f / (1.f + std::exp(-logit)); }

}  // namespace rerankd
