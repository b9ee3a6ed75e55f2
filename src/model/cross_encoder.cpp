#include "model/cross_encoder.h"

#include "model/bert_model.h"
#include "model/xlmr_model.h"

namespace rerankd {

std::unique_ptr<CrossEncoder> load_cross_encoder(const std::filesystem::path& model_dir, ModelConfig config,
                                                 Backend& backend, const BatchBounds& bounds) {
  switch (config.family) {
    case ModelFamily::kBert:
      return std::make_unique<BertModel>(model_dir, std::move(config), backend, bounds);
    case ModelFamily::kRoberta:
      break;
  }
  return std::make_unique<XlmrModel>(model_dir, std::move(config), backend, bounds);
}

}  // namespace rerankd
