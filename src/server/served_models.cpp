#include "server/served_models.h"

#include <spdlog/spdlog.h>

#include "common/error.h"

namespace rerankd::server {
namespace {

ModelFacts gather_facts(const std::string& name, Reranker& reranker) {
  ModelFacts f;
  f.model_id = name;
  f.model_dir = reranker.options().model_dir.string();
  const ModelConfig& c = reranker.config();
  f.model_type = c.model_type;
  f.architecture = c.architecture;
  f.dtype = dtype_name(reranker.model().stored_dtype());
  f.precision = reranker.precision();
  f.precision_reason = reranker.precision_reason();
  f.device = reranker.device();
  f.backend = f.device.substr(0, f.device.find(':'));
  f.backend_description = reranker.backend_description();
  f.max_input_length = reranker.max_length();
  f.takes_instruction = reranker.tokenizer().prompt_based();
  f.default_instruction = reranker.tokenizer().default_instruction();
  f.hidden_size = c.hidden_size;
  f.num_layers = c.num_layers;
  f.threads = reranker.compute_threads();
  return f;
}

std::string names_of(std::span<const ServedModel> models) {
  std::string out;
  for (const ServedModel& m : models) out += (out.empty() ? "'" : ", '") + m.name + "'";
  return out;
}

// A client's text in a message, cut at a character boundary: the name may be any length.
std::string quoted(std::string_view text) {
  constexpr size_t kMax = 128;
  if (text.size() <= kMax) return "'" + std::string(text) + "'";
  size_t end = kMax;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return "'" + std::string(text.substr(0, end)) + "...'";
}

}  // namespace

void check_model_names(std::span<const std::string> names) {
  if (names.empty()) throw Error(Error::Kind::kInvalidInput, "no model to serve");
  for (size_t i = 0; i < names.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (names[j] == names[i]) {
        throw Error(Error::Kind::kInvalidInput,
                    "two models are named '" + names[i] + "': name them apart with --model NAME=SOURCE");
      }
    }
  }
}

ServedModels::ServedModels(const std::vector<ModelSpec>& specs, const SchedulerOptions& options,
                           MetricsRegistry& registry) {
  std::vector<std::string> names;
  for (const ModelSpec& spec : specs) names.push_back(spec.name);
  check_model_names(names);
  models_.reserve(specs.size());
  for (const ModelSpec& spec : specs) {
    ServedModel& m = models_.emplace_back();
    m.name = spec.name;
    m.reranker = std::make_unique<Reranker>(spec.reranker);
    m.facts = gather_facts(spec.name, *m.reranker);
    SchedulerOptions o = options;
    o.metric_labels = o.metric_labels + Labels{{"model", spec.name}};
    m.scheduler = std::make_unique<Scheduler>(*m.reranker, o, &registry);
    registry
        .gauge("rerankd_model_info", "A model served (value 1), with what it runs as",
               {{"model", m.name},
                {"model_type", m.facts.model_type},
                {"precision", m.facts.precision},
                {"device", m.facts.device}})
        .set(1);
    spdlog::info("model '{}': {} ({}, {}, {}) from {}", m.name, m.facts.architecture, m.facts.precision,
                 m.facts.device, m.facts.backend_description, m.facts.model_dir);
  }
}

ServedModel& ServedModels::pick(std::string_view requested) {
  if (requested.empty() || models_.size() == 1) return models_.front();
  for (ServedModel& m : models_) {
    if (m.name == requested) return m;
  }
  throw Error(Error::Kind::kNotFound,
              "model " + quoted(requested) + " is not served here; this server serves " + names_of(models_));
}

bool ServedModels::draining() const {
  const auto& scheduler = models_.front().scheduler;
  return !scheduler || scheduler->draining();
}

size_t ServedModels::in_flight_requests() const {
  size_t n = 0;
  for (const ServedModel& m : models_) n += m.scheduler->in_flight_requests();
  return n;
}

bool ServedModels::wait_measured(Clock::time_point deadline) {
  bool all = true;
  for (ServedModel& m : models_) all = m.scheduler->wait_idle(deadline) && all;
  return all;
}

void ServedModels::begin_drain() {
  for (ServedModel& m : models_) m.scheduler->begin_drain();
}

void ServedModels::stop() {
  for (auto m = models_.rbegin(); m != models_.rend(); ++m) m->scheduler.reset();
}

}  // namespace rerankd::server
