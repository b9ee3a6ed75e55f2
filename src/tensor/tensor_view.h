#pragma once
// A read-only view of one tensor inside a memory-mapped checkpoint file.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace rerankd {

enum class DType { kF32, kF16, kBF16 };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);  // safetensors spelling: "F32", "F16", "BF16"

std::string shape_string(const std::vector<int64_t>& shape);  // "[1024, 4096]"

// A float tensor (a weight): integer tensors never become a TensorView.
struct TensorView {
  std::string name;
  std::filesystem::path file;  // the file it lives in, for error messages
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const std::byte* data = nullptr;
  size_t nbytes = 0;
  // True when `data` lies in a read-only file mapping (SafetensorsFile's), whose pages
  // release_pages may drop: the file still holds them.
  bool mapped = false;

  int64_t numel() const;
  std::string shape_string() const;  // "[1024, 4096]"
};

// Widens out.size() values of `dtype` stored at `data` (any alignment) to float32: one row of a
// table read in place, say.
void widen_to_f32(DType dtype, const std::byte* data, std::span<float> out);
// Widens any stored dtype to float32 into `out` (out.size() must equal view.numel()).
void convert_to_f32(const TensorView& view, std::span<float> out);
std::vector<float> to_f32(const TensorView& view);

// Says that the view's bytes will not be read again soon: the memory pages lying wholly inside it
// leave the process's resident set. A backend calls it once it holds the tensor in its own form
// (converted, packed, uploaded), so that a model is resident once, in its compute dtype, and not
// also as the checkpoint pages that loading touched (the finiteness check reads every byte). Nothing
// is lost: the mapping is private and read-only, so a page read again faults back in from the file
// (from the page cache, mostly); a table used in place from the map thus keeps resident only the
// rows that batches read. A no-op for a view outside a file mapping, where dropping a page would
// zero it.
void release_pages(const TensorView& view);

// Throws Error (kModelFormat) naming the file, the tensor and the element if a value is NaN or
// infinite: such weights would serve NaN scores with a 200.
void check_finite(const TensorView& view);

}  // namespace rerankd
