#include "tokenizer/load_tokenizer.h"

#include "tokenizer/bert_tokenizer.h"
#include "tokenizer/prompt_tokenizer.h"
#include "tokenizer/xlmr_tokenizer.h"

namespace rerankd {

std::unique_ptr<PairTokenizer> load_tokenizer(const std::filesystem::path& model_dir, ModelFamily family,
                                              const TokenizerFiles& files) {
  switch (family) {
    case ModelFamily::kBert:
      return std::make_unique<BertTokenizer>(model_dir / "vocab.txt", files);
    case ModelFamily::kRoberta:
      return std::make_unique<XlmrTokenizer>(model_dir / "sentencepiece.bpe.model", files);
    case ModelFamily::kQwen3:
    case ModelFamily::kQwen2:
    case ModelFamily::kGemma:
      break;
  }
  return std::make_unique<PromptTokenizer>(load_text_tokenizer(model_dir), family, files, model_dir.string());
}

}  // namespace rerankd
