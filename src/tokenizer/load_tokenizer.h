#pragma once
// The tokenizer a model family uses, from the files of its model directory.
#include <filesystem>
#include <memory>

#include "model/config.h"
#include "tokenizer/pair_tokenizer.h"
#include "tokenizer/tokenizer_files.h"

namespace rerankd {

// XLM-R/RoBERTa: sentencepiece.bpe.model; BERT: vocab.txt; decoders: tokenizer.json or
// tokenizer.model in their prompt (prompt_tokenizer.h); all with `files` (read from the same
// directory) for added tokens and options. Throws Error(kModelFormat) naming the file at fault.
std::unique_ptr<PairTokenizer> load_tokenizer(const std::filesystem::path& model_dir, ModelFamily family,
                                              const TokenizerFiles& files);

}  // namespace rerankd
