#include "tokenizer/text_tokenizer.h"

#include "tokenizer/byte_level_bpe.h"
#include "tokenizer/sentencepiece_text.h"
#include "tokenizer/tokenizer_files.h"

namespace rerankd {

std::unique_ptr<TextTokenizer> load_text_tokenizer(const std::filesystem::path& model_dir) {
  // Gemma ships tokenizer.json too, a BPE with byte fallback that ByteLevelBpe refuses; its
  // tokenizer.model is the original. Qwen ships no tokenizer.model.
  if (std::filesystem::exists(model_dir / "tokenizer.model")) {
    return std::make_unique<SentencePieceText>(
        SentencePieceText::load(model_dir / "tokenizer.model", read_tokenizer_files(model_dir)));
  }
  return std::make_unique<ByteLevelBpe>(ByteLevelBpe::load(model_dir / "tokenizer.json"));
}

}  // namespace rerankd
