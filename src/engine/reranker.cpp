#include "engine/reranker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <limits>

#include "common/error.h"
#include "common/process_stats.h"
#include "kernels/backend_factory.h"
#include "model/memory_estimate.h"
#include "tokenizer/load_tokenizer.h"

namespace rerankd {

namespace {
// Offline, only throughput matters: the latency cap is there to keep one pass from growing huge.
constexpr double kOfflinePassSeconds = 60;

std::string gib(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", static_cast<double>(bytes) / (1 << 30));
  return text;
}

// Says what the model will hold and refuses, before any weight is read, one whose weights cannot
// fit in the memory left (the workspace grows with the passes the policy chooses, so it only
// warns).
void check_memory(const RerankerOptions& options, const ModelConfig& config, const Backend& backend) {
  const MemoryEstimate need =
      estimate_memory(config, backend.precision(), options.batch, /*copies_tables=*/backend.name() != "cpu");
  const int64_t available = available_memory_bytes();
  spdlog::info("memory: {} of weights in {}, activations up to {} at {} tokens a pass; {} available",
               gib(need.weight_bytes), backend.precision(), gib(need.workspace_bytes),
               options.batch.largest_pass(config.max_sequence_length()).max_tokens,
               available < 0 ? std::string("unknown") : gib(available));
  if (available >= 0 && need.weight_bytes > available) {
    throw Error(Error::Kind::kInvalidInput,
                (options.model_dir / "config.json").string() + ": the model needs " + gib(need.weight_bytes) +
                    " for its weights in " + backend.precision() + " and only " + gib(available) +
                    " is available; use a narrower --dtype (int8 on a CPU) or a machine with more memory");
  }
  if (available >= 0 && need.weight_bytes + need.workspace_bytes > available) {
    spdlog::warn("memory: the weights and a full {}-token pass would not fit; lower --max-batch-tokens",
                 options.batch.max_tokens);
  }
}
}  // namespace

Reranker::Reranker(const RerankerOptions& options) : options_(options) {
  if (!std::filesystem::is_directory(options.model_dir)) {
    throw Error(Error::Kind::kIo, options.model_dir.string() + ": not a model directory");
  }
  ModelConfig config = load_model_config(options.model_dir / "config.json");
  const TokenizerFiles tokenizer_files = read_tokenizer_files(options.model_dir);
  tokenizer_ = load_tokenizer(options.model_dir, config.family, tokenizer_files);
  MadeBackend made = make_backend({.device = options.device, .dtype = options.dtype, .threads = options.threads});
  if (!made.warning.empty()) spdlog::warn("dtype {}: {}", options.dtype, made.warning);
  backend_ = std::move(made.backend);
  precision_reason_ = std::move(made.precision_reason);
  check_memory(options, config, *backend_);
  model_ = load_cross_encoder(options.model_dir, std::move(config), *backend_, options.batch,
                              tokenizer_->answer_tokens());

  const ModelConfig& c = model_->config();
  if (c.num_labels != 1) {
    throw Error(Error::Kind::kModelFormat, (options.model_dir / "config.json").string() +
                                               ": field 'id2label' has " + std::to_string(c.num_labels) +
                                               " labels; a reranker has exactly one");
  }
  if (tokenizer_->max_id() >= c.vocab_size) {
    throw Error(Error::Kind::kModelFormat, (options.model_dir / "config.json").string() + ": field 'vocab_size' (" +
                                               std::to_string(c.vocab_size) +
                                               ") is smaller than the tokenizer's vocabulary (" +
                                               std::to_string(tokenizer_->max_id() + 1) + ")");
  }
  spdlog::info("model {}: {}, {} layers, hidden {}, stored {}; computing in {} ({}); resident {} MiB",
               options.model_dir.string(), c.architecture, c.num_layers, c.hidden_size,
               dtype_name(model_->stored_dtype()), backend_->precision(), precision_reason_, resident_memory_bytes() >> 20);
  spdlog::info("backend: {}", backend_->describe());
  max_length_ = static_cast<size_t>(
      std::clamp<int64_t>(std::min(options.batch.max_sequence_length, c.max_sequence_length()), 1, INT64_MAX));
  if (tokenizer_files.max_length) max_length_ = std::min(max_length_, *tokenizer_files.max_length);
  if (max_length_ < tokenizer_->pair_special_tokens()) {
    throw Error(Error::Kind::kInvalidInput, "max_length must be at least " +
                                                std::to_string(tokenizer_->pair_special_tokens()));
  }
}

Reranker::~Reranker() = default;

EncodedPair Reranker::encode(std::string_view query, std::string_view document, std::string_view instruction) const {
  if (tokenizer_->prompt_based()) return tokenizer_->encode_prompt(instruction, query, document, max_length_);
  if (!instruction.empty()) {
    throw Error(Error::Kind::kInvalidInput, "this model is a cross-encoder, which takes no instruction");
  }
  return tokenizer_->encode_pair(query, document, max_length_);
}

std::vector<float> Reranker::logits(std::span<const EncodedPair> pairs,
                                    const std::function<void(size_t, size_t)>& progress) {
  // The server's batching policy with one request and no deadline: it sizes the passes from the
  // throughput it measures as they run, so offline scoring needs no batch-size tuning either.
  BatchPolicy policy(PolicyOptions{.limits = options_.batch, .max_pass_seconds = kOfflinePassSeconds,
                                   .max_queue_seconds = std::numeric_limits<double>::infinity(),
                                   .tenant_weights = {}});
  std::vector<size_t> lengths(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) lengths[i] = pairs[i].ids.size();
  const SteadyTimeSource clock;
  policy.admit(0, lengths, Clock::time_point::max(), clock.now());
  std::vector<float> out(pairs.size());
  size_t done = 0;
  while (policy.has_work()) {
    const BatchPolicy::Pass pass = policy.next_pass(clock.now());
    PackedBatch batch(model_->config().position_rule());
    for (const auto& p : pass.pairs) batch.add(pairs[p.index].ids, pairs[p.index].type_ids);
    const auto start = clock.now();
    const std::vector<float> logits = model_->forward(batch);
    policy.pass_done(pass.tokens, seconds_between(start, clock.now()));
    for (size_t k = 0; k < pass.pairs.size(); ++k) out[pass.pairs[k].index] = logits[k];
    done += pass.pairs.size();
    if (progress) progress(done, pairs.size());
  }
  return out;
}

std::vector<ScoredPair> Reranker::score(std::span<const Pair> pairs,
                                        const std::function<void(size_t, size_t)>& progress) {
  std::vector<EncodedPair> encoded;
  encoded.reserve(pairs.size());
  for (const Pair& p : pairs) encoded.push_back(encode(p.query, p.document, p.instruction));
  const std::vector<float> l = logits(encoded, progress);
  std::vector<ScoredPair> out(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    out[i] = {l[i], sigmoid(l[i]), encoded[i].truncated, encoded[i].ids.size()};
  }
  return out;
}

}  // namespace rerankd
