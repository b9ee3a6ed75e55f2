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
#include "tensor/tensor_view.h"

namespace rerankd {

// An I64 tensor. transformers' older checkpoints carry the embeddings' registered buffers beside
// the weights (position_ids = arange(max_position_embeddings) as [1, N], token_type_ids zeros of
// that shape); today's transformers leaves them out and ignores them. Never a weight.
struct IndexBuffer {
  std::string name;
  std::filesystem::path file;
  std::vector<int64_t> shape;
  const std::byte* data = nullptr;  // little-endian int64s, not necessarily aligned
  size_t nbytes = 0;
};

// What an index buffer must hold, element by element.
enum class IndexPattern { kArange, kZeros };

// Parses and validates one memory-mapped .safetensors file. Every inconsistency (truncation,
// header out of bounds, bad JSON, unsupported dtype, offsets that disagree with the shape or
// overlap) throws Error(kModelFormat) naming the file and the tensor. Float tensors become
// TensorViews, I64 ones IndexBuffers.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);

  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, IndexBuffer>& buffers() const { return buffers_; }

 private:
  std::unique_ptr<MappedFile> file_;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, IndexBuffer> buffers_;
};

// All tensors of a model directory. Lookups check shape and record use, so that tensors nobody
// asked for can be reported as unexpected once the model is built.
class Checkpoint {
 public:
  static Checkpoint open(const std::filesystem::path& model_dir);

  // Throws naming the tensor (and file) when missing, of another shape, or stored as I64.
  const TensorView& get(const std::string& name, const std::vector<int64_t>& shape);
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }

  // When the checkpoint carries the I64 buffer `name`: checks that it is [1, length] and holds
  // `pattern` (what the engine computes in its place), and counts it as used. Nothing otherwise.
  void check_buffer(const std::string& name, int64_t length, IndexPattern pattern);

  // Throws if a tensor was never asked for and is not known to be harmless.
  void check_all_used() const;

  DType dominant_dtype() const;  // the dtype most weights are stored in
  const std::vector<std::filesystem::path>& files() const { return files_; }

 private:
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::vector<std::filesystem::path> files_;
  std::map<std::string, const TensorView*> tensors_;
  std::map<std::string, const IndexBuffer*> buffers_;
  std::set<std::string> used_;
};

}  // namespace rerankd
