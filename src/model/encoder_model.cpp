#include "model/encoder_model.h"

#include <array>

#include "common/error.h"

namespace rerankd {
namespace {

// Where each family's checkpoint keeps the encoder and the two Linears of its head.
struct EncoderLayout {
  ModelFamily family;
  const char* encoder_prefix;
  const char* head_dense;  // [H, H], tanh after it
  const char* head_out;    // [labels, H]
};
constexpr std::array<EncoderLayout, 2> kLayouts = {{
    // RobertaClassificationHead: classifier.dense, tanh, classifier.out_proj.
    {ModelFamily::kRoberta, "roberta.", "classifier.dense", "classifier.out_proj"},
    // BertPooler (dense, tanh) and BertForSequenceClassification's classifier.
    {ModelFamily::kBert, "bert.", "bert.pooler.dense", "classifier"},
}};

const EncoderLayout& layout_of(const ModelConfig& config) {
  for (const EncoderLayout& layout : kLayouts) {
    if (layout.family == config.family) return layout;
  }
  throw Error(Error::Kind::kInternal, "EncoderModel built for " + config.architecture + ", not an encoder");
}

}  // namespace

EncoderModel::EncoderModel(const std::filesystem::path& model_dir, ModelConfig config, Backend& backend,
                           const BatchBounds& bounds)
    : backend_(backend),
      config_(std::move(config)),
      checkpoint_(Checkpoint::open(model_dir)),
      stored_dtype_(checkpoint_.dominant_dtype()) {
  const EncoderLayout& layout = layout_of(config_);
  const int64_t H = config_.hidden_size;
  encoder_ = std::make_unique<EncoderStack>(checkpoint_, config_, backend_, layout.encoder_prefix, bounds);
  head_ = std::make_unique<TanhHead>(
      backend_, load_linear(checkpoint_, backend_, layout.head_dense, H, H, LinearUse::kHead),
      load_linear(checkpoint_, backend_, layout.head_out, config_.num_labels, H, LinearUse::kHead));
  checkpoint_.check_all_used();
  head_->reserve(encoder_->planned_sequences());
}

EncoderModel::~EncoderModel() = default;

std::unique_ptr<PendingRead> EncoderModel::begin_forward(const PackedBatch& batch) {
  if (batch.num_sequences() == 0) return std::make_unique<ReadyRead>(std::vector<float>{});
  return head_->run(encoder_->first_tokens(batch));
}

}  // namespace rerankd
