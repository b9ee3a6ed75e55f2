#include "model/bert_model.h"

#include "common/error.h"

namespace rerankd {

BertModel::BertModel(const std::filesystem::path& model_dir, ModelConfig config, Backend& backend,
                     const BatchBounds& bounds)
    : backend_(backend),
      config_(std::move(config)),
      checkpoint_(Checkpoint::open(model_dir)),
      stored_dtype_(checkpoint_.dominant_dtype()) {
  if (config_.family != ModelFamily::kBert) {
    throw Error(Error::Kind::kInternal, "BertModel built for " + config_.architecture);
  }
  const int64_t H = config_.hidden_size;
  encoder_ = std::make_unique<EncoderStack>(checkpoint_, config_, backend_, "bert.", bounds);
  head_ = std::make_unique<TanhHead>(
      backend_, load_linear(checkpoint_, backend_, "bert.pooler.dense", H, H, LinearUse::kHead),
      load_linear(checkpoint_, backend_, "classifier", config_.num_labels, H, LinearUse::kHead));
  checkpoint_.check_all_used();
  head_->reserve(encoder_->planned_sequences());
}

BertModel::~BertModel() = default;

std::unique_ptr<PendingRead> BertModel::begin_forward(const PackedBatch& batch) {
  if (batch.num_sequences() == 0) return std::make_unique<ReadyRead>(std::vector<float>{});
  return head_->run(encoder_->first_tokens(batch));
}

}  // namespace rerankd
