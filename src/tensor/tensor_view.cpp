#include "tensor/tensor_view.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "common/error.h"

namespace rerankd {
namespace {

// Drops the pages of a read-only file mapping that lie wholly inside [data, data + nbytes) from the
// resident set. Only whole pages: one shared with a neighbouring tensor may still be read for it.
void release_range(const std::byte* data, size_t nbytes) {
  static const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
  const auto end = (reinterpret_cast<uintptr_t>(data) + nbytes) / page * page;
  if (end <= begin) return;
  // A hint: if the kernel refuses it, the pages merely stay resident, which is no reason to fail
  // a load that has everything it needs.
  (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits = 0;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf / nan
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa != 0) {
    // Subnormal half: renormalise.
    exponent = 113;
    while ((mantissa & 0x400u) == 0) {
      mantissa <<= 1;
      --exponent;
    }
    bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
  } else {
    bits = sign;
  }
  return std::bit_cast<float>(bits);
}

}  // namespace

size_t dtype_size(DType dtype) { return dtype == DType::kF32 ? 4 : 2; }

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
  }
  return "?";
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string TensorView::shape_string() const { return rerankd::shape_string(shape); }

void widen_to_f32(DType dtype, const std::byte* data, std::span<float> out) {
  const size_t n = out.size();
  switch (dtype) {
    case DType::kF32:
      std::memcpy(out.data(), data, n * sizeof(float));
      return;
    case DType::kF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, data + 2 * i, 2);
        out[i] = half_to_float(h);
      }
      return;
    case DType::kBF16:
      for (size_t i = 0; i < n; ++i) {
        uint16_t b;
        std::memcpy(&b, data + 2 * i, 2);
        out[i] = std::bit_cast<float>(static_cast<uint32_t>(b) << 16);
      }
      return;
  }
}

void convert_to_f32(const TensorView& view, std::span<float> out) {
  if (out.size() != static_cast<size_t>(view.numel())) {
    throw Error(Error::Kind::kInternal, "convert_to_f32: size mismatch for tensor '" + view.name + "'");
  }
  widen_to_f32(view.dtype, view.data, out);
}

namespace {

// Index of the first element of [begin, end) whose exponent bits are all ones (NaN or infinity),
// or `end`. Blocks are tested with a reduction that vectorizes; only a bad block is searched.
template <typename Bits>
size_t first_non_finite(const std::byte* data, size_t begin, size_t end, Bits exponent) {
  constexpr size_t kBlock = 4096;
  for (size_t block = begin; block < end; block += kBlock) {
    const size_t stop = std::min(end, block + kBlock);
    bool bad = false;
    for (size_t i = block; i < stop; ++i) {
      Bits bits;
      std::memcpy(&bits, data + sizeof(Bits) * i, sizeof(Bits));
      bad |= (bits & exponent) == exponent;
    }
    if (!bad) continue;
    for (size_t i = block; i < stop; ++i) {
      Bits bits;
      std::memcpy(&bits, data + sizeof(Bits) * i, sizeof(Bits));
      if ((bits & exponent) == exponent) return i;
    }
  }
  return end;
}

}  // namespace

void check_finite(const TensorView& view) {
  const size_t n = view.nbytes / dtype_size(view.dtype);
  // In steps of 16 MB. The check reads every byte of a tensor before the backend has taken
  // anything from it; for one larger than a step (bge-m3's word embeddings: 1 GB in float32) each
  // checked step's mapped pages go again (release_range), or the table would sit resident beside
  // the rest of the load and set its peak. What the backend reads of it faults back in from the
  // page cache. A smaller tensor's pages stay for the backend, which releases them itself.
  const size_t size = dtype_size(view.dtype);
  const size_t step = (size_t{16} << 20) / size;
  const bool release = view.mapped && n > step;
  size_t bad = n;
  for (size_t begin = 0; begin < n && bad == n; begin += step) {
    const size_t end = std::min(n, begin + step);
    const size_t found = view.dtype == DType::kF32   ? first_non_finite<uint32_t>(view.data, begin, end, 0x7f800000u)
                         : view.dtype == DType::kF16 ? first_non_finite<uint16_t>(view.data, begin, end, 0x7c00u)
                                                     : first_non_finite<uint16_t>(view.data, begin, end, 0x7f80u);
    if (found != end) bad = found;
    if (release) release_range(view.data + begin * size, (end - begin) * size);
  }
  if (bad != n) {
    throw Error(Error::Kind::kModelFormat, view.file.string() + ": tensor '" + view.name +
                                               "' holds NaN or infinity (element " + std::to_string(bad) + " of " +
                                               std::to_string(n) + ")");
  }
}

void release_pages(const TensorView& view) {
  if (view.mapped) release_range(view.data, view.nbytes);
}

std::vector<float> to_f32(const TensorView& view) {
  std::vector<float> out(static_cast<size_t>(view.numel()));
  convert_to_f32(view, out);
  return out;
}

}  // namespace rerankd
