#pragma once
// What a model will hold resident once loaded, from config.json alone, so that start-up can say
// it and refuse a model that cannot fit before allocating any of it.
#include <cstdint>
#include <string>

#include "model/config.h"
#include "tensor/batch_bounds.h"

namespace rerankd {

struct MemoryEstimate {
  int64_t weight_bytes = 0;     // the layers' matrices in the compute precision, plus the tables a
                                // backend copies (a CPU reads the token table in place: not counted)
  int64_t workspace_bytes = 0;  // activations of the largest pass `bounds` allow (float32)
};

// `precision`: the backend's ("float32", "bfloat16", "float16", "int8"); `copies_tables`: the
// backend keeps its own copy of the embedding tables (a device backend).
MemoryEstimate estimate_memory(const ModelConfig& config, const std::string& precision, const BatchBounds& bounds,
                               bool copies_tables);

}  // namespace rerankd
