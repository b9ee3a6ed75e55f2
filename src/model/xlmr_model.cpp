#include "model/xlmr_model.h"

#include "common/error.h"

namespace rerankd {

XlmrModel::XlmrModel(const std::filesystem::path& model_dir, Backend& backend, const BatchBounds& bounds)
    : XlmrModel(model_dir, load_model_config(model_dir / "config.json"), backend, bounds) {}

XlmrModel::XlmrModel(const std::filesystem::path& model_dir, ModelConfig config, Backend& backend,
                     const BatchBounds& bounds)
    : backend_(backend),
      config_(std::move(config)),
      checkpoint_(Checkpoint::open(model_dir)),
      stored_dtype_(checkpoint_.dominant_dtype()) {
  if (config_.family != ModelFamily::kRoberta) {
    throw Error(Error::Kind::kInternal, "XlmrModel built for " + config_.architecture);
  }
  const int64_t H = config_.hidden_size;
  encoder_ = std::make_unique<EncoderStack>(checkpoint_, config_, backend_, "roberta.", bounds);
  head_ = std::make_unique<TanhHead>(
      backend_, load_linear(checkpoint_, backend_, "classifier.dense", H, H, LinearUse::kHead),
      load_linear(checkpoint_, backend_, "classifier.out_proj", config_.num_labels, H, LinearUse::kHead));
  checkpoint_.check_all_used();
  head_->reserve(encoder_->planned_sequences());
}

XlmrModel::~XlmrModel() = default;

std::unique_ptr<PendingRead> XlmrModel::begin_forward(const PackedBatch& batch) {
  if (batch.num_sequences() == 0) return std::make_unique<ReadyRead>(std::vector<float>{});
  return head_->run(encoder_->first_tokens(batch));
}

}  // namespace rerankd
