#include "hub/model_files.h"

#include <simdjson.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace rerankd::hub {
namespace fs = std::filesystem;

std::vector<std::string> index_shards(const fs::path& index) {
  std::ifstream in(index, std::ios::binary);
  if (!in) throw Error(Error::Kind::kIo, index.string() + ": cannot open");
  std::stringstream text;
  text << in.rdbuf();
  simdjson::dom::parser parser;
  simdjson::dom::object weight_map;
  const auto bad = [&](const std::string& why) {
    return Error(Error::Kind::kModelFormat, index.string() + ": field 'weight_map': " + why);
  };
  if (parser.parse(text.str()).get_object()["weight_map"].get_object().get(weight_map) != simdjson::SUCCESS) {
    throw bad("missing or not an object");
  }
  std::vector<std::string> shards;
  for (auto field : weight_map) {
    std::string_view shard;
    if (field.value.get_string().get(shard) != simdjson::SUCCESS) {
      throw bad("entry '" + std::string(field.key) + "' is not a file name");
    }
    // The name becomes a URL path and a file name in the cache: nothing that could leave either.
    if (shard.empty() || shard.front() == '.' || shard.find_first_of("/\\?#%") != std::string_view::npos) {
      throw bad("shard name '" + std::string(shard) + "' must be a plain file name");
    }
    if (std::find(shards.begin(), shards.end(), shard) == shards.end()) shards.emplace_back(shard);
  }
  if (shards.empty()) throw bad("lists no shards");
  return shards;
}

std::string missing_model_file(const fs::path& snapshot) {
  std::error_code ec;
  const auto present = [&](const std::string& name) { return fs::is_regular_file(snapshot / name, ec); };
  if (!present(kConfigFile)) return kConfigFile;
  if (!present(kWeightsFile)) {
    if (!present(kWeightsIndexFile)) return kWeightsFile;
    try {
      for (const auto& shard : index_shards(snapshot / kWeightsIndexFile)) {
        if (!present(shard)) return shard;
      }
    } catch (const Error&) {
      return kWeightsIndexFile;
    }
  }
  if (std::none_of(kVocabularyFiles.begin(), kVocabularyFiles.end(), present)) return kVocabularyFiles.front();
  return "";
}

}  // namespace rerankd::hub
