#pragma once
// Text to ids for the decoder-LLM rerankers (Qwen3-Reranker, mxbai-rerank-v2, bge-reranker-v2-gemma),
// exactly as Hugging Face's tokenizers library gives them with add_special_tokens=False: special
// tokens written in the text become their ids, and nothing is added around the text. The prompt
// builder that assembles a pair asks only this of a tokenizer.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "tokenizer/pair_tokenizer.h"

namespace rerankd {

class TextTokenizer {
 public:
  virtual ~TextTokenizer() = default;

  // Thread-safe. Throws Error(kInvalidInput) when `text` is not valid UTF-8.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // encode(text) with each id's bytes [begin, end) in `text` as given (before any normalization).
  virtual TokenizedText encode_with_spans(std::string_view text) const = 0;
  // The id of a vocabulary entry or added token written exactly so ("<|im_end|>", "yes").
  virtual std::optional<int32_t> token_id(std::string_view token) const = 0;
  // The largest id encode can give (or token_id name); must be < the model's vocab_size.
  virtual int32_t max_id() const = 0;
};

// The tokenizer of a decoder model's directory: tokenizer.model (sentencepiece: Gemma) when there
// is one, with tokenizer.json's or tokenizer_config.json's added tokens; else tokenizer.json
// (byte-level BPE: Qwen2, Qwen3). Throws Error naming the file (kIo: missing; kModelFormat:
// malformed or unsupported).
std::unique_ptr<TextTokenizer> load_text_tokenizer(const std::filesystem::path& model_dir);

}  // namespace rerankd
