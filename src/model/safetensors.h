#pragma once
// The safetensors format (one file) and a checkpoint made of one or more such files
// (model.safetensors, or shards listed by model.safetensors.index.json).
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "model/mapped_file.h"
#include "model/tensor_view.h"

namespace rerankd {

// Parses and validates one memory-mapped .safetensors file. Every inconsistency (truncation,
// header out of bounds, bad JSON, unsupported dtype, offsets that disagree with the shape or
// overlap) throws Error(kModelFormat) naming the file and the tensor.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);

  const std::map<std::string, TensorView>& tensors() const { return tensors_; }

 private:
  std::unique_ptr<MappedFile> file_;
  std::map<std::string, TensorView> tensors_;
};

// All tensors of a model directory. Lookups check shape and record use, so that tensors nobody
// asked for can be reported as unexpected once the model is built.
class Checkpoint {
 public:
  static Checkpoint open(const std::filesystem::path& model_dir);

  // Throws naming the tensor (and file) when missing or of another shape.
  const TensorView& get(const std::string& name, const std::vector<int64_t>& shape);
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }

  // Throws if a tensor was never asked for and is not known to be harmless.
  void check_all_used() const;

  DType dominant_dtype() const;  // the dtype most weights are stored in
  const std::vector<std::filesystem::path>& files() const { return files_; }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::vector<std::filesystem::path> files_;
  std::map<std::string, const TensorView*> tensors_;
  std::set<std::string> used_;
};

}  // namespace rerankd
