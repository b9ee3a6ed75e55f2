#include "tools/serve_command.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/error.h"
#include "server/served_models.h"
#include "server/server.h"
#include "tools/access_options.h"
#include "tools/common_options.h"
#include "tools/logging.h"

namespace rerankd::tools {
namespace {

struct ServeArgs {
  ModelOptions model;
  server::ServerOptions server;
  std::string log_level = "info";
  std::string log_format = "text";
  AccessArgs access;
  std::string truncation = "longest_first";
  size_t max_chunks_per_doc = 0;
  size_t max_tokens_per_doc = 0;
  size_t chunk_overlap_tokens = 0;
  size_t score_cache_mb = 64;
};

struct NamedSource {
  std::string name, source;
};

// "[NAME=]SOURCE": NAME is what requests' "model" field says; by default the hub id as written,
// or a directory's own name. An existing path with '=' in it is a path.
NamedSource named_source(const std::string& value) {
  std::string name, source = value;
  const size_t eq = value.find('=');
  if (eq != std::string::npos && value.substr(0, eq).find('/') == std::string::npos && !std::filesystem::exists(value)) {
    name = value.substr(0, eq);
    source = value.substr(eq + 1);
    if (name.empty() || source.empty()) {
      throw Error(Error::Kind::kInvalidInput, "--model " + value + ": give NAME=SOURCE with both parts, or SOURCE");
    }
  }
  if (source.empty()) throw Error(Error::Kind::kInvalidInput, "--model: an empty model source");
  if (name.empty()) {
    const std::filesystem::path path(source);
    name = std::filesystem::is_directory(path)
               ? (path.has_filename() ? path.filename() : path.parent_path().filename()).string()
               : source;
  }
  return {name, source};
}

int run_serve(ServeArgs& args) {
  server::ServerOptions options = args.server;
  options.log_format = args.log_format == "json" ? server::LogFormat::kJson : server::LogFormat::kText;
  configure_logging(args.log_level, options.log_format);
  apply_access_options(args.access, options);
  options.scheduler.batch = args.model.batch;
  options.scheduler.truncation = *truncation_rule_named(args.truncation);
  options.scheduler.chunk_defaults = {.max_chunks = args.max_chunks_per_doc,
                                      .max_document_tokens = args.max_tokens_per_doc,
                                      .overlap = args.chunk_overlap_tokens};
  options.scheduler.score_cache_bytes = args.score_cache_mb << 20;
  std::vector<NamedSource> named;
  std::vector<std::string> names;
  for (const std::string& value : args.model.sources()) {
    named.push_back(named_source(value));
    names.push_back(named.back().name);
  }
  server::check_model_names(names);  // before any download
  std::vector<server::ModelSpec> models;
  for (const NamedSource& n : named) models.push_back({.name = n.name, .reranker = args.model.reranker_options(n.source)});
  server::RerankServer server(models, options);
  return server.run();
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "Serve the reranker over HTTP (TEI, Cohere/Jina and plain rerank APIs)");
  add_model_options(*cmd, args->model);
  server::ServerOptions& o = args->server;
  SchedulerOptions& s = o.scheduler;
  cmd->add_option("--host", o.host, "Address to listen on")->envname("RERANKD_HOST")->capture_default_str();
  cmd->add_option("--port", o.port, "Port to listen on (0: any free port, printed at startup)")
      ->envname("RERANKD_PORT")
      ->capture_default_str();
  cmd->add_option("--max-queue-seconds", s.max_queue_seconds,
                  "Seconds of model work a request may find queued ahead of it (measured speed); beyond it "
                  "429 with Retry-After. 0: two thirds of the --request-timeout")
      ->envname("RERANKD_MAX_QUEUE_SECONDS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--max-queued-tokens", s.max_queued_tokens,
                  "Optional hard cap on tokens admitted and waiting for the model; beyond it 429. 0: none "
                  "(the queue is bounded in seconds)")
      ->envname("RERANKD_MAX_QUEUED_TOKENS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--max-concurrent-requests", s.max_concurrent_requests,
                  "Requests in flight at once; beyond it requests get 429")
      ->envname("RERANKD_MAX_CONCURRENT_REQUESTS")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-client-batch-size", o.max_client_batch_size, "Documents per request; beyond it 413")
      ->envname("RERANKD_MAX_CLIENT_BATCH_SIZE")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-body-bytes", o.max_body_bytes, "Request body size; beyond it 413")
      ->envname("RERANKD_MAX_BODY_BYTES")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--request-timeout", o.request_timeout_seconds,
                  "Seconds a request may take unless its X-Request-Timeout header says otherwise; then 504")
      ->envname("RERANKD_REQUEST_TIMEOUT")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--drain-timeout", o.drain_timeout_seconds,
                  "Seconds to let in-flight requests finish after SIGTERM/SIGINT")
      ->envname("RERANKD_DRAIN_TIMEOUT")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--io-timeout", o.io_timeout_seconds,
                  "Seconds to read a started request or write a response (a client that stops reading)")
      ->envname("RERANKD_IO_TIMEOUT")
      ->check(CLI::Range(1.0, 86400.0))
      ->capture_default_str();
  cmd->add_option("--io-threads", o.io_threads, "Network threads")
      ->envname("RERANKD_IO_THREADS")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--tokenizer-threads", s.tokenizer_threads, "Tokenizer threads")
      ->envname("RERANKD_TOKENIZER_THREADS")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--feeder-nice", s.feeder_nice,
                  "Nice steps the io and tokenizer threads run below the model's threads, so that a flood of "
                  "requests cannot take the forward pass's CPU (0: same priority)")
      ->envname("RERANKD_FEEDER_NICE")
      ->check(CLI::Range(0, 19))
      ->capture_default_str();
  cmd->add_option("--truncation", args->truncation,
                  "How a pair too long for --max-length is cut unless the request says: longest_first "
                  "(Hugging Face's) or flagembedding (FlagReranker.compute_score's: the query capped at 3/4 of "
                  "max_length, then the document cut)")
      ->envname("RERANKD_TRUNCATION")
      ->check(CLI::IsMember({"longest_first", "flagembedding"}))
      ->capture_default_str();
  cmd->add_option("--max-chunks-per-doc", args->max_chunks_per_doc,
                  "Default windows per document: one longer than the window is scored by its best window of up "
                  "to this many (1: truncation). 0: 1, or what --max-tokens-per-doc needs when that is set")
      ->envname("RERANKD_MAX_CHUNKS_PER_DOC")
      ->check(CLI::Range(size_t{0}, size_t{1} << 20))
      ->capture_default_str();
  cmd->add_option("--max-tokens-per-doc", args->max_tokens_per_doc,
                  "Default document tokens considered, chunked into windows when more than one window's worth. "
                  "0: no cap")
      ->envname("RERANKD_MAX_TOKENS_PER_DOC")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--chunk-overlap-tokens", args->chunk_overlap_tokens,
                  "Default tokens shared by consecutive windows (clamped below the window)")
      ->envname("RERANKD_CHUNK_OVERLAP_TOKENS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--score-cache-mb", args->score_cache_mb,
                  "Memory for remembered scores (LRU of pair -> logit); a request whose pairs are all cached "
                  "is answered without queueing. 0: off")
      ->envname("RERANKD_SCORE_CACHE_MB")
      ->check(CLI::Range(size_t{0}, size_t{1} << 20))
      ->capture_default_str();
  cmd->add_option("--log-level", args->log_level, "trace, debug, info, warn, error, critical or off")
      ->envname("RERANKD_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  cmd->add_option("--log-format", args->log_format, "text (human-readable) or json (one object per line)")
      ->envname("RERANKD_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  add_access_options(*cmd, args->access, o);
  cmd->callback([args, &exit_code] { exit_code = run_serve(*args); });
}

}  // namespace rerankd::tools
