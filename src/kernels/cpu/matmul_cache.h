#pragma once
// What the float32/bf16 and int8 linear runners share: a bounded cache of oneDNN matmul primitives
// keyed by shape (a server sees many batch sizes; each primitive is a few KB of JIT code), and the
// one-time reorder of plain weights into the blocked layout a primitive chose.
#include <spdlog/spdlog.h>

#include <dnnl.hpp>

#include <map>
#include <string>

namespace rerankd::cpu {

// The row count weights are packed for: oneDNN's blocked weight layouts depend on the shape of the
// weights, not on M, so one packing serves every batch size.
constexpr int64_t kPackingRows = 256;

// Reorders `data`, laid out as `plain`, into a new memory of layout `packed` (converting the type
// where they differ), and waits for it.
inline dnnl::memory pack_weights(dnnl::engine& engine, dnnl::stream& stream, const dnnl::memory::desc& plain,
                                 const void* data, const dnnl::memory::desc& packed) {
  dnnl::memory source(plain, engine, const_cast<void*>(data));
  dnnl::memory target(packed, engine);
  dnnl::reorder(source, target).execute(stream, source, target);
  stream.wait();
  return target;
}

template <typename Key>
class MatmulCache {
 public:
  static constexpr size_t kMaxPrimitives = 512;

  // The primitive for `key`, made from make_pd() the first time. Warns once per shape when oneDNN
  // falls back to a reference implementation (a missing ISA or an unsupported attribute).
  template <typename MakePd>
  const dnnl::matmul& get(const Key& key, MakePd&& make_pd) {
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      if (cache_.size() >= kMaxPrimitives) cache_.clear();
      const dnnl::matmul::primitive_desc pd = make_pd();
      const std::string impl = pd.impl_info_str();
      if (impl.find("ref") != std::string::npos) {
        spdlog::warn("oneDNN picked a reference matmul ({}) for src {} x weights {}: expect it to be slow", impl,
                     pd.src_desc().dims()[0], pd.weights_desc().dims()[1]);
      }
      it = cache_.emplace(key, dnnl::matmul(pd)).first;
    }
    return it->second;
  }

 private:
  std::map<Key, dnnl::matmul> cache_;
};

}  // namespace rerankd::cpu
