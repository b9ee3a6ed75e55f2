#include "tools/common_options.h"

#include "common/error.h"
#include "hub/model_source.h"
#include "kernels/backend_factory.h"

namespace rerankd::tools {

const std::vector<std::string>& ModelOptions::sources() const {
  if (models.empty() || models.front().empty()) {
    throw Error(Error::Kind::kInvalidInput, "no model: pass --model DIR (or ORG/NAME) or set RERANKD_MODEL");
  }
  return models;
}

RerankerOptions ModelOptions::reranker_options() const {
  if (sources().size() > 1) {
    throw Error(Error::Kind::kInvalidInput,
                "this subcommand takes one --model, not " + std::to_string(models.size()) + " (only serve takes several)");
  }
  return reranker_options(models.front());
}

RerankerOptions ModelOptions::reranker_options(const std::string& source) const {
  RerankerOptions o;
  o.model_dir = hub::resolve_model(source, revision, hub::HubSettings::from_environment());
  o.device = device;
  o.threads = threads;
  o.dtype = dtype;
  o.batch = batch;
  return o;
}

void add_model_options(CLI::App& cmd, ModelOptions& options) {
  cmd.add_option("-m,--model", options.models,
                 "Hugging Face model directory (config.json, model.safetensors, sentencepiece.bpe.model), or a "
                 "hub id ORG/NAME: from the Hugging Face cache, else downloaded into it (HF_ENDPOINT, HF_TOKEN, "
                 "HF_HUB_OFFLINE, HF_HUB_CACHE: docs/models.md). serve: repeat it (or separate with commas) "
                 "to serve several, each as [NAME=]SOURCE; requests pick one by their \"model\" field, and "
                 "the first is the default")
      ->envname("RERANKD_MODEL")
      ->delimiter(',')
      ->allow_extra_args(false);
  cmd.add_option("--revision", options.revision, "Of a hub id: branch, tag or commit")
      ->envname("RERANKD_REVISION")
      ->capture_default_str();
  // Checked when the backend is made (kernels/backend_factory.h), so that the file and the
  // environment get the same message as the flag: a malformed device, or CUDA in a build without it.
  cmd.add_option("--device", options.device,
                 std::string("Where the model runs: cpu, cuda (= cuda:0) or cuda:N") +
                     (cuda_backend_built() ? "" : " (this build has no CUDA backend)"))
      ->envname("RERANKD_DEVICE")
      ->capture_default_str();
  cmd.add_option("--threads", options.threads, "CPU compute threads (0 = one per physical core)")
      ->envname("RERANKD_THREADS")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd.add_option("--dtype", options.dtype,
                 "Compute precision: auto (CPU: bfloat16 where it has AVX512-BF16/AMX, else float32; CUDA: float16), "
                 "float32, float16 (CUDA), bfloat16, int8 (CPU)")
      ->envname("RERANKD_DTYPE")
      ->check(CLI::IsMember(known_dtypes()))
      ->capture_default_str();
  cmd.add_option("--max-length", options.batch.max_sequence_length, "Tokens per pair, specials included (clamped to the model's limit)")
      ->envname("RERANKD_MAX_LENGTH")
      ->check(CLI::Range(int64_t{8}, int64_t{1} << 20))
      ->capture_default_str();
  cmd.add_option("--max-batch-tokens", options.batch.max_tokens,
                 "Upper bound on tokens per forward pass (the size in force is chosen from measured speed)")
      ->envname("RERANKD_MAX_BATCH_TOKENS")
      ->check(CLI::Range(int64_t{16}, int64_t{1} << 24))
      ->capture_default_str();
  cmd.add_option("--max-batch-pairs", options.batch.max_sequences, "Upper bound on pairs per forward pass")
      ->envname("RERANKD_MAX_BATCH_PAIRS")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 16))
      ->capture_default_str();
}

}  // namespace rerankd::tools
