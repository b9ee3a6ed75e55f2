#include "server/status_handlers.h"

#include "common/json_writer.h"
#include "common/version.h"
#include "server/error_response.h"

namespace rerankd::server {

namespace {

uint64_t u(size_t v) { return static_cast<uint64_t>(v); }

// One model's facts, score cache and batch size in force, as keys of the object being written.
void write_model(JsonWriter& w, const ServedModel& m) {
  const ModelFacts& f = m.facts;
  w.key("model_id").value(f.model_id);
  w.key("model_dir").value(f.model_dir);
  w.key("model_type").value(f.model_type);
  w.key("architecture").value(f.architecture);
  w.key("model_dtype").value(f.dtype);
  w.key("precision").value(f.precision);
  w.key("precision_reason").value(f.precision_reason);
  w.key("backend").value(f.backend);
  w.key("device").value(f.device);
  w.key("backend_description").value(f.backend_description);
  w.key("max_input_length").value(u(f.max_input_length));
  w.key("takes_instruction").value(f.takes_instruction);
  w.key("default_instruction").value(f.default_instruction);
  w.key("hidden_size").value(f.hidden_size);
  w.key("num_layers").value(f.num_layers);
  w.key("threads").value(f.threads);
  const std::optional<ScoreCache::Stats> cache = m.scheduler->cache_stats();
  w.key("score_cache").begin_object();
  w.key("enabled").value(cache.has_value());
  if (cache) {
    w.key("max_bytes").value(u(cache->max_bytes));
    w.key("bytes").value(u(cache->bytes));
    w.key("entries").value(u(cache->entries));
    w.key("hits").value(cache->hits);
    w.key("misses").value(cache->misses);
    w.key("evictions").value(cache->evictions);
  }
  w.end_object();
  const BatchingState b = m.scheduler->batching();
  w.key("batching").begin_object();
  w.key("token_budget").value(u(b.token_budget));
  w.key("exploring").value(b.exploring);
  w.key("measured_tokens_per_second").value(b.tokens_per_second);
  w.key("queued_seconds").value(b.queued_seconds);
  w.end_object();
}

// The limits per client identity and what identifies clients; keys appear by their ids only.
void write_rate_limits(JsonWriter& w, const ServerOptions& o) {
  const RateLimitOptions& r = o.rate_limits;
  w.key("rate_limits").begin_object();
  w.key("requests_per_second").value(r.requests_per_second);
  w.key("pairs_per_second").value(r.pairs_per_second);
  w.key("burst_seconds").value(r.burst_seconds);
  w.key("trusted_proxies").begin_array();
  for (const AddressBlock& block : o.trusted_proxies) w.value(block.to_string());
  w.end_array();
  w.key("tenants").begin_array();
  for (const TenantSettings& t : o.tenants) {
    w.begin_object();
    w.key("id").value(t.id);
    w.key("weight").value(t.weight);
    w.key("requests_per_second").value(t.requests_per_second.value_or(r.requests_per_second));
    w.key("pairs_per_second").value(t.pairs_per_second.value_or(r.pairs_per_second));
    w.end_object();
  }
  w.end_array();
  w.end_object();
}

}  // namespace

std::string info_body(const ServedModels& models, const ServerOptions& o) {
  const SchedulerOptions& s = o.scheduler;
  JsonWriter w;
  w.begin_object();
  w.key("version").value(kVersion);
  // The default model's keys at the top, as TEI's /info has them (one model per server there).
  write_model(w, models.all().front());
  w.key("auth").value(o.api_keys.empty() ? "none" : "api_key");
  w.key("limits").begin_object();
  w.key("max_batch_tokens").value(u(s.batch.max_tokens));
  w.key("max_batch_pairs").value(u(s.batch.max_sequences));
  w.key("max_queued_tokens").value(u(s.max_queued_tokens));
  w.key("max_queue_seconds").value(s.queue_seconds());
  w.key("max_concurrent_requests").value(u(s.max_concurrent_requests));
  w.key("max_client_batch_size").value(u(o.max_client_batch_size));
  w.key("max_body_bytes").value(u(o.max_body_bytes));
  w.key("request_timeout_seconds").value(o.request_timeout_seconds);
  w.key("drain_timeout_seconds").value(o.drain_timeout_seconds);
  w.key("io_timeout_seconds").value(o.io_timeout_seconds);
  w.key("io_threads").value(o.io_threads);
  w.key("tokenizer_threads").value(s.tokenizer_threads);
  w.end_object();
  write_rate_limits(w, o);
  w.key("pairs").begin_object();  // how pairs are made when a request does not say
  w.key("truncation").value(truncation_rule_name(s.truncation));
  if (s.chunk_defaults.max_chunks > 0) w.key("max_chunks_per_doc").value(u(s.chunk_defaults.max_chunks));
  else w.key("max_chunks_per_doc").null();
  if (s.chunk_defaults.max_document_tokens > 0) w.key("max_tokens_per_doc").value(u(s.chunk_defaults.max_document_tokens));
  else w.key("max_tokens_per_doc").null();
  w.key("chunk_overlap_tokens").value(u(s.chunk_defaults.overlap.value_or(0)));
  w.end_object();
  // Every model served, the default first; the limits and pair defaults above apply to each.
  w.key("models").begin_array();
  for (const ServedModel& m : models.all()) {
    w.begin_object();
    write_model(w, m);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return w.take();
}

HttpResponse health_response(const ServedModels& models) {
  // Load balancers read the status; people read the message.
  if (models.draining()) {
    return error_response(Error(Error::Kind::kUnavailable, "the server is draining and admits no new requests"));
  }
  return json_response(http::status::ok, R"({"status":"ok"})");
}

HttpResponse info_response(const std::string& body) { return json_response(http::status::ok, body); }

HttpResponse metrics_response(const MetricsRegistry& registry) {
  HttpResponse response{http::status::ok, 11};
  response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  response.body() = registry.render();
  return response;
}

}  // namespace rerankd::server
