#include "model/cross_encoder.h"

#include "model/decoder_model.h"
#include "model/encoder_model.h"

namespace rerankd {

std::unique_ptr<CrossEncoder> load_cross_encoder(const std::filesystem::path& model_dir, ModelConfig config,
                                                 Backend& backend, const BatchBounds& bounds,
                                                 const AnswerTokens& answer) {
  if (config.decoder()) return std::make_unique<DecoderModel>(model_dir, std::move(config), backend, bounds, answer);
  return std::make_unique<EncoderModel>(model_dir, std::move(config), backend, bounds);
}

}  // namespace rerankd
