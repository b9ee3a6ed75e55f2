#pragma once
// The models one server serves, by name. Each has its own Reranker (backend, weights, compute
// threads) and its own Scheduler (queue, admission, measured batch size, score cache), so that
// one model's load never queues behind another's and each is measured on its own.
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/metrics.h"
#include "engine/reranker.h"
#include "engine/scheduler.h"

namespace rerankd::server {

// What /info reports of a model, gathered once at startup (the model belongs to the compute
// thread after).
struct ModelFacts {
  std::string model_dir;
  std::string model_id;  // the name it is served under (--model NAME=..., the hub id or the directory's name)
  std::string model_type;
  std::string architecture;
  std::string dtype;      // as stored in the checkpoint
  std::string precision;  // as computed by the backend
  std::string backend;  // "cpu", "cuda"
  std::string device;   // the backend's device: "cpu", "cuda:0"
  std::string backend_description;  // ISA, kernels in use
  std::string precision_reason;     // why the dtype resolved to `precision`
  size_t max_input_length = 0;  // tokens per pair, special tokens included
  bool takes_instruction = false;   // a decoder reranker, whose prompt has an instruction
  std::string default_instruction;  // what it uses when a request gives none (may be empty)
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int threads = 0;
};

struct ModelSpec {
  std::string name;  // what requests' "model" field, /info and the metrics' model label say
  RerankerOptions reranker;
};

struct ServedModel {
  std::string name;
  std::unique_ptr<Reranker> reranker;
  ModelFacts facts;  // gathered at load: the model belongs to the compute thread after
  std::unique_ptr<Scheduler> scheduler;
};

// Error(kInvalidInput) for no name or one given twice: before any model is resolved (a hub id may
// need a download) or loaded.
void check_model_names(std::span<const std::string> names);

class ServedModels {
 public:
  // Loads every model in order and starts its scheduler, its metrics labelled model="NAME".
  // Throws Error: as check_model_names, else what loading throws.
  ServedModels(const std::vector<ModelSpec>& specs, const SchedulerOptions& options, MetricsRegistry& registry);

  // The model a request's "model" field names; empty: the first (the default, and the only one
  // TEI's API can reach without the field). With one model served any name is accepted: Cohere's
  // and Jina's clients must send a model and default to their own vendors' names. With several,
  // the name must be one served: else Error(kNotFound) listing them.
  ServedModel& pick(std::string_view requested);

  std::span<ServedModel> all() { return models_; }
  std::span<const ServedModel> all() const { return models_; }
  ServedModel& first() { return models_.front(); }

  // Over every model. There is no "compute thread stopped" state to report: a failure in a
  // scheduler's own machinery ends the process (backend_worker.h), and an orchestrator restarts it.
  bool draining() const;
  size_t in_flight_requests() const;
  // Waits until every model's warm-up passes have measured its speed (before any request, so
  // admission never has to admit blind), or the deadline passes; true if they all did.
  bool wait_measured(Clock::time_point deadline);
  void begin_drain();
  // Stops the schedulers (pending requests complete with kUnavailable), last model first.
  void stop();

 private:
  std::vector<ServedModel> models_;
};

}  // namespace rerankd::server
