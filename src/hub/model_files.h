#pragma once
// Which files of a model repository the engine reads, so that only those are downloaded (a hub
// repository also holds PyTorch, ONNX and TensorFlow copies of the weights, many gigabytes the
// engine never opens).
#include <array>
#include <filesystem>
#include <string>
#include <vector>

namespace rerankd::hub {

inline constexpr const char* kConfigFile = "config.json";
inline constexpr const char* kWeightsFile = "model.safetensors";
inline constexpr const char* kWeightsIndexFile = "model.safetensors.index.json";
// Tokenizer files, each fetched when the repository has it; the tokenizer loader decides which
// it needs (sentencepiece.bpe.model for XLM-RoBERTa, vocab.txt for WordPiece), and at least one
// of kVocabularyFiles must be present.
inline constexpr std::array<const char*, 5> kTokenizerFiles = {
    "sentencepiece.bpe.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"};
inline constexpr std::array<const char*, 3> kVocabularyFiles = {"sentencepiece.bpe.model", "tokenizer.json",
                                                                "vocab.txt"};

// The shard file names a model.safetensors.index.json's weight_map lists, each once, in order of
// first appearance. Throws Error(kModelFormat) naming the file and field when it is malformed or
// names anything but a plain file name.
std::vector<std::string> index_shards(const std::filesystem::path& index);

// "" when `snapshot` holds everything the engine needs (config, all weights, a vocabulary), else
// the first thing missing, for messages. A dangling link (a blob never completed) counts as missing.
std::string missing_model_file(const std::filesystem::path& snapshot);

}  // namespace rerankd::hub
