#pragma once
// The scheduler's instruments: counters and histograms of what it admits, refuses, drops and runs.
// Always present: a scheduler given no registry counts into one of its own that nobody reads, so
// the code that counts never asks whether anyone listens.
#include <memory>

#include "common/metrics.h"

namespace rerankd {

struct SchedulerMetrics {
  // `given` may be null. Every series carries `labels` (model="NAME" with several models).
  SchedulerMetrics(MetricsRegistry* given, const Labels& labels);

  // Where the instruments live; the scheduler registers its gauges here too.
  MetricsRegistry& registry;

  Histogram &batch_pairs, &batch_tokens, &padding, &inference, &queue;
  Counter &tokens, &pairs;
  Counter &dropped_cancelled, &dropped_deadline;
  Counter &rejected_concurrency, &rejected_queue_tokens, &rejected_deadline, &rejected_never, &rejected_early;
  Counter &cache_hits, &cache_misses, &cache_evictions, &shared_pairs;

 private:
  std::unique_ptr<MetricsRegistry> own_;  // when none was given
  SchedulerMetrics(std::unique_ptr<MetricsRegistry> own, MetricsRegistry* given, const Labels& labels);
};

}  // namespace rerankd
