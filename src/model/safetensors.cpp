#include "model/safetensors.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>

#include "common/error.h"

namespace rerankd {
namespace {

[[noreturn]] void format_error(const std::filesystem::path& file, const std::string& what) {
  throw Error(Error::Kind::kModelFormat, file.string() + ": " + what);
}

constexpr std::string_view kI64 = "I64";

DType parse_dtype(const std::filesystem::path& file, const std::string& tensor, std::string_view s) {
  if (s == "F32") return DType::kF32;
  if (s == "F16") return DType::kF16;
  if (s == "BF16") return DType::kBF16;
  format_error(file, "tensor '" + tensor + "' has unsupported dtype '" + std::string(s) +
                         "' (supported: F32, F16, BF16; I64 for index buffers such as position_ids)");
}

bool is_harmless_extra(const std::string& name) {
  // Buffers and heads that XLMRobertaForSequenceClassification and BertForSequenceClassification
  // themselves ignore when loading.
  return name == "roberta.embeddings.position_ids" || name == "bert.embeddings.position_ids" ||
         name.rfind("roberta.pooler.", 0) == 0 || name.rfind("lm_head.", 0) == 0 || name.rfind("cls.", 0) == 0;
}

}  // namespace

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path)
    : file_(std::make_unique<MappedFile>(path)) {
  const size_t size = file_->size();
  if (size < 8) format_error(path, "truncated: " + std::to_string(size) + " bytes, no header length");
  uint64_t header_len = 0;
  std::memcpy(&header_len, file_->data(), 8);  // little-endian on every platform we build for
  if (header_len > size - 8) {
    format_error(path, "header length " + std::to_string(header_len) + " points past the end of the file (" +
                           std::to_string(size) + " bytes)");
  }
  const std::byte* data_begin = file_->data() + 8 + header_len;
  const size_t data_size = size - 8 - header_len;

  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const simdjson::padded_string header(reinterpret_cast<const char*>(file_->data() + 8), header_len);
  if (auto err = parser.parse(header).get(doc); err != simdjson::SUCCESS) {
    format_error(path, std::string("header is not valid JSON (") + simdjson::error_message(err) + ")");
  }
  simdjson::dom::object root;
  if (doc.get_object().get(root) != simdjson::SUCCESS) format_error(path, "header is not a JSON object");

  struct Extent {
    size_t begin, end;
    const std::string* name;
  };
  std::vector<Extent> extents;
  for (auto field : root) {
    std::string name(field.key);
    if (name == "__metadata__") continue;
    simdjson::dom::object entry;
    if (field.value.get_object().get(entry) != simdjson::SUCCESS) {
      format_error(path, "tensor '" + name + "': header entry is not an object");
    }
    std::string_view dtype_str;
    simdjson::dom::array shape_arr, offsets_arr;
    if (entry["dtype"].get_string().get(dtype_str) != simdjson::SUCCESS ||
        entry["shape"].get_array().get(shape_arr) != simdjson::SUCCESS ||
        entry["data_offsets"].get_array().get(offsets_arr) != simdjson::SUCCESS) {
      format_error(path, "tensor '" + name + "': header entry needs dtype, shape and data_offsets");
    }
    TensorView view;
    view.name = name;
    view.file = path;
    const bool index = dtype_str == kI64;
    if (!index) view.dtype = parse_dtype(path, name, dtype_str);
    const std::string type_name = index ? std::string(kI64) : dtype_name(view.dtype);
    for (auto dim : shape_arr) {
      int64_t d = 0;
      if (dim.get_int64().get(d) != simdjson::SUCCESS || d < 0) {
        format_error(path, "tensor '" + name + "': shape must hold non-negative integers");
      }
      view.shape.push_back(d);
    }
    std::vector<uint64_t> offsets;
    for (auto o : offsets_arr) {
      uint64_t v = 0;
      if (o.get_uint64().get(v) != simdjson::SUCCESS) {
        format_error(path, "tensor '" + name + "': data_offsets must be non-negative integers");
      }
      offsets.push_back(v);
    }
    if (offsets.size() != 2 || offsets[0] > offsets[1]) {
      format_error(path, "tensor '" + name + "': data_offsets must be [begin, end] with begin <= end");
    }
    // Checked: a hostile header can give a shape whose byte size wraps around to the span it gives.
    uint64_t expected = index ? sizeof(int64_t) : dtype_size(view.dtype);
    for (const int64_t d : view.shape) {
      if (__builtin_mul_overflow(expected, static_cast<uint64_t>(d), &expected)) {
        format_error(path, "tensor '" + name + "': shape " + view.shape_string() + " of " + type_name +
                               " overflows a 64-bit byte count");
      }
    }
    if (offsets[1] - offsets[0] != expected) {
      format_error(path, "tensor '" + name + "': data_offsets span " + std::to_string(offsets[1] - offsets[0]) +
                             " bytes but shape " + view.shape_string() + " of " + type_name + " needs " +
                             std::to_string(expected));
    }
    if (offsets[1] > data_size) {
      format_error(path, "tensor '" + name + "': data_offsets end " + std::to_string(offsets[1]) +
                             " lies past the data section (" + std::to_string(data_size) +
                             " bytes): the file is truncated or the header is wrong");
    }
    view.data = data_begin + offsets[0];
    view.nbytes = offsets[1] - offsets[0];
    view.mapped = true;
    if (tensors_.count(name) != 0 || buffers_.count(name) != 0) {
      format_error(path, "tensor '" + name + "' appears twice in the header");
    }
    const std::string* key = nullptr;
    if (index) {
      key = &buffers_.emplace(name, IndexBuffer{name, path, std::move(view.shape), view.data, view.nbytes}).first->first;
    } else {
      key = &tensors_.emplace(name, std::move(view)).first->first;
    }
    extents.push_back({offsets[0], offsets[1], key});
  }
  std::sort(extents.begin(), extents.end(), [](const Extent& a, const Extent& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < extents.size(); ++i) {
    if (extents[i].begin < extents[i - 1].end) {
      format_error(path, "tensors '" + *extents[i - 1].name + "' and '" + *extents[i].name +
                             "' overlap in the data section");
    }
  }
}

Checkpoint Checkpoint::open(const std::filesystem::path& model_dir) {
  Checkpoint ckpt;
  const auto single = model_dir / "model.safetensors";
  const auto index = model_dir / "model.safetensors.index.json";
  if (std::filesystem::exists(single)) {
    ckpt.files_.push_back(single);
  } else if (std::filesystem::exists(index)) {
    const MappedFile file(index);
    const std::string text(reinterpret_cast<const char*>(file.data()), file.size());
    simdjson::dom::parser parser;
    simdjson::dom::object weight_map;
    if (parser.parse(text).get_object()["weight_map"].get_object().get(weight_map) != simdjson::SUCCESS) {
      format_error(index, "field 'weight_map' is missing or not an object");
    }
    std::set<std::string> shard_names;
    for (auto field : weight_map) {
      std::string_view shard;
      if (field.value.get_string().get(shard) != simdjson::SUCCESS) {
        format_error(index, "field 'weight_map': entry '" + std::string(field.key) + "' is not a file name");
      }
      if (shard.find('/') != std::string_view::npos || shard == "..") {
        format_error(index, "field 'weight_map': shard name '" + std::string(shard) + "' must be a plain file name");
      }
      shard_names.emplace(shard);
    }
    for (const auto& name : shard_names) {
      const auto shard_path = model_dir / name;
      if (!std::filesystem::exists(shard_path)) {
        throw Error(Error::Kind::kIo, shard_path.string() + ": missing (a shard that " + index.filename().string() +
                                          " names in 'weight_map')");
      }
      ckpt.files_.push_back(shard_path);
    }
  } else {
    throw Error(Error::Kind::kIo, (model_dir / "model.safetensors").string() +
                                      ": missing (and no model.safetensors.index.json beside it)");
  }

  for (const auto& file : ckpt.files_) {
    ckpt.shards_.push_back(std::make_unique<SafetensorsFile>(file));
    const auto twice = [&](const std::string& name) {
      if (ckpt.tensors_.count(name) != 0 || ckpt.buffers_.count(name) != 0) {
        format_error(file, "tensor '" + name + "' is also stored in another shard");
      }
    };
    for (const auto& [name, view] : ckpt.shards_.back()->tensors()) {
      twice(name);
      ckpt.tensors_.emplace(name, &view);
    }
    for (const auto& [name, buffer] : ckpt.shards_.back()->buffers()) {
      twice(name);
      ckpt.buffers_.emplace(name, &buffer);
    }
  }
  return ckpt;
}

const TensorView& Checkpoint::get(const std::string& name, const std::vector<int64_t>& shape) {
  auto it = tensors_.find(name);
  if (const auto buffer = buffers_.find(name); it == tensors_.end() && buffer != buffers_.end()) {
    throw Error(Error::Kind::kModelFormat, buffer->second->file.string() + ": tensor '" + name + "' is stored as " +
                                               std::string(kI64) + ", where a float weight (F32, F16 or BF16) of shape " +
                                               shape_string(shape) + " is expected");
  }
  if (it == tensors_.end()) {
    const std::string where = files_.size() == 1 ? files_.front().string() : files_.front().parent_path().string();
    throw Error(Error::Kind::kModelFormat, where + ": missing tensor '" + name + "'");
  }
  const TensorView& view = *it->second;
  if (view.shape != shape) {
    TensorView want;
    want.shape = shape;
    throw Error(Error::Kind::kModelFormat, view.file.string() + ": tensor '" + name + "' has shape " +
                                               view.shape_string() + ", expected " + want.shape_string());
  }
  if (used_.insert(name).second) check_finite(view);
  return view;
}

void Checkpoint::check_buffer(const std::string& name, int64_t length, IndexPattern pattern) {
  const auto it = buffers_.find(name);
  if (it == buffers_.end()) return;
  const IndexBuffer& buffer = *it->second;
  const std::vector<int64_t> want{1, length};
  if (buffer.shape != want) {
    throw Error(Error::Kind::kModelFormat, buffer.file.string() + ": tensor '" + name + "' has shape " +
                                               shape_string(buffer.shape) + ", expected " + shape_string(want) +
                                               " (max_position_embeddings in config.json)");
  }
  // The shape matched, so nbytes is 8 * length (checked against data_offsets when parsed).
  for (int64_t i = 0; i < length; ++i) {
    int64_t value = 0;
    std::memcpy(&value, buffer.data + sizeof(int64_t) * static_cast<size_t>(i), sizeof value);
    const int64_t expected = pattern == IndexPattern::kArange ? i : 0;
    if (value != expected) {
      throw Error(Error::Kind::kModelFormat,
                  buffer.file.string() + ": tensor '" + name + "' holds " + std::to_string(value) + " at [0, " +
                      std::to_string(i) + "], not " + std::to_string(expected) + " (" +
                      (pattern == IndexPattern::kArange ? "positions 0, 1, 2, ..." : "all zeros") +
                      ", the only values the engine computes)");
    }
  }
  used_.insert(name);
}

void Checkpoint::check_all_used() const {
  for (const auto& [name, view] : tensors_) {
    if (used_.count(name) == 0 && !is_harmless_extra(name)) {
      throw Error(Error::Kind::kModelFormat,
                  view->file.string() + ": unexpected tensor '" + name + "' (not part of the model)");
    }
  }
  for (const auto& [name, buffer] : buffers_) {
    if (used_.count(name) == 0) {
      throw Error(Error::Kind::kModelFormat, buffer->file.string() + ": unexpected " + std::string(kI64) +
                                                 " tensor '" + name + "' (not part of the model)");
    }
  }
}

DType Checkpoint::dominant_dtype() const {
  size_t bytes[3] = {0, 0, 0};
  for (const auto& [name, view] : tensors_) bytes[static_cast<int>(view->dtype)] += view->nbytes;
  return static_cast<DType>(std::max_element(bytes, bytes + 3) - bytes);
}

}  // namespace rerankd
