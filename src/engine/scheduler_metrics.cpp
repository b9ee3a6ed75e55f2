#include "engine/scheduler_metrics.h"

namespace rerankd {
namespace {

Counter& rejected(MetricsRegistry& r, const Labels& l, const char* reason) {
  return r.counter("rerankd_rejected_requests_total", "Requests refused by admission control",
                   l + Labels{{"reason", reason}});
}

Counter& dropped(MetricsRegistry& r, const Labels& l, const char* reason) {
  return r.counter("rerankd_dropped_pairs_total", "Pairs removed before reaching the model", l + Labels{{"reason", reason}});
}

Counter& lookups(MetricsRegistry& r, const Labels& l, const char* result) {
  return r.counter("rerankd_score_cache_lookups_total", "Score cache lookups of distinct pairs",
                   l + Labels{{"result", result}});
}

}  // namespace

SchedulerMetrics::SchedulerMetrics(MetricsRegistry* given, const Labels& labels)
    : SchedulerMetrics(given == nullptr ? std::make_unique<MetricsRegistry>() : nullptr, given, labels) {}

SchedulerMetrics::SchedulerMetrics(std::unique_ptr<MetricsRegistry> own, MetricsRegistry* given, const Labels& l)
    : registry(given != nullptr ? *given : *own),
      batch_pairs(registry.histogram("rerankd_batch_pairs", "Pairs per forward pass",
                                     MetricsRegistry::exponential_buckets(1, 2, 11), l)),
      batch_tokens(registry.histogram("rerankd_batch_tokens", "Tokens per forward pass",
                                      MetricsRegistry::exponential_buckets(16, 2, 13), l)),
      padding(registry.histogram("rerankd_batch_padding_ratio",
                                 "Share of a batch that padding to its longest pair would add (the packed CPU path "
                                 "computes none of it)",
                                 {0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9}, l)),
      inference(registry.histogram("rerankd_inference_seconds", "Forward-pass time per batch",
                                   MetricsRegistry::latency_buckets_seconds(), l)),
      queue(registry.histogram("rerankd_queue_seconds",
                               "Admission to the first batch that ran one of the request's pairs",
                               MetricsRegistry::latency_buckets_seconds(), l)),
      tokens(registry.counter("rerankd_tokens_processed_total", "Tokens run through the model", l)),
      pairs(registry.counter("rerankd_pairs_processed_total", "Pairs run through the model", l)),
      dropped_cancelled(dropped(registry, l, "cancelled")),
      dropped_deadline(dropped(registry, l, "deadline")),
      rejected_concurrency(rejected(registry, l, "concurrency")),
      rejected_queue_tokens(rejected(registry, l, "queue_tokens")),
      rejected_deadline(rejected(registry, l, "deadline")),
      rejected_never(rejected(registry, l, "too_slow_even_idle")),
      rejected_early(rejected(registry, l, "deadline_before_tokenizing")),
      cache_hits(lookups(registry, l, "hit")),
      cache_misses(lookups(registry, l, "miss")),
      cache_evictions(registry.counter("rerankd_score_cache_evictions_total", "Scores dropped from the cache for room", l)),
      shared_pairs(registry.counter("rerankd_shared_pairs_total",
                                    "Pairs not run because an identical pair of the same request or pass was", l)),
      own_(std::move(own)) {}

}  // namespace rerankd
