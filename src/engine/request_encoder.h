#pragma once
// Encoding, the first step of a request's path: its texts to the pairs the model will run. Each
// document becomes one pair or, with chunks, its windows; with the score cache on, pairs the cache
// knows are answered from it and identical pairs of the request queue once. Holds no lock: it
// runs on a tokenizer thread, and asks the caller after each document whether the request can
// still be admitted, so a request that cannot is refused after a fraction of its tokenization.
#include <cstddef>
#include <functional>

#include "engine/document_chunks.h"
#include "engine/request_state.h"
#include "engine/score_cache.h"
#include "engine/scheduler_metrics.h"
#include "engine/token_estimate.h"
#include "tokenizer/pair_tokenizer.h"

namespace rerankd {

struct EncoderSettings {
  size_t max_length = 512;
  TruncationRule truncation = TruncationRule::kLongestFirst;  // when the request does not say
  ChunkRequest chunk_defaults;
  size_t max_pairs_per_request = 0;  // 0: no limit
};

class RequestEncoder {
 public:
  // `cache` may be null (off); it and `metrics` must outlive the encoder.
  RequestEncoder(const PairTokenizer& tokenizer, const EncoderSettings& settings, ScoreCache* cache,
                 SchedulerMetrics& metrics);

  // Called after each document but the last with the tokens queued so far, the least the
  // documents not yet encoded will add (least_tokens) and how many were encoded; throws to refuse
  // the request.
  using Progress = std::function<void(size_t run_tokens, size_t rest_at_least, size_t documents_done)>;

  // Consumes the documents' texts as it goes. Throws Error: kUnprocessable (a pair too long with
  // truncation off, or a chunk plan that cannot work), kTooLarge (more pairs than the limit), and
  // whatever `progress` throws.
  EncodedRequest encode(RerankInput& input, const Progress& progress) const;

  // The tokens of the request's documents from `first` on, at the least (token_estimate.h), before
  // they are encoded.
  size_t least_tokens(const RerankInput& input, size_t first = 0) const;
  // Of a request whose body has `body_bytes` bytes, before it is parsed.
  size_t least_tokens(size_t body_bytes) const;

 private:
  const PairTokenizer& tokenizer_;
  EncoderSettings settings_;
  ScoreCache* cache_;
  SchedulerMetrics& metrics_;
  mutable TokenEstimate estimate_;  // learns from every request encoded; thread-safe
};

}  // namespace rerankd
