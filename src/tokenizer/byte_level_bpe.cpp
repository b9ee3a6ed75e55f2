#include "tokenizer/byte_level_bpe.h"

#include <simdjson.h>

#include <algorithm>

#include "common/error.h"
#include "tokenizer/json_file.h"
#include "tokenizer/nfc.h"
#include "tokenizer/tokenizer_json.h"

namespace rerankd {
namespace {

std::vector<AddedToken> tokens_where(const std::vector<AddedToken>& tokens, bool normalized) {
  std::vector<AddedToken> out;
  std::copy_if(tokens.begin(), tokens.end(), std::back_inserter(out),
               [&](const AddedToken& t) { return t.normalized == normalized; });
  return out;
}

}  // namespace

// A segment of the text as given, at `offset`: either the text the model saw is that segment
// (no source table), or its NFC form, with the source range of each byte (nfc.h). Takes byte
// ranges of the text the model saw.
struct ByteLevelBpe::SpanMap {
  uint32_t offset = 0;
  const std::vector<std::pair<uint32_t, uint32_t>>* source = nullptr;

  std::pair<uint32_t, uint32_t> operator()(size_t begin, size_t end) const {
    if (source == nullptr) return {offset + static_cast<uint32_t>(begin), offset + static_cast<uint32_t>(end)};
    return {offset + (*source)[begin].first, offset + (*source)[end - 1].second};
  }
};

ByteLevelBpe ByteLevelBpe::load(const std::filesystem::path& tokenizer_json) {
  JsonFile file;
  if (!file.open(tokenizer_json)) throw Error(Error::Kind::kIo, tokenizer_json.string() + ": missing");
  ByteLevelBpeConfig config = read_byte_level_bpe_config(file);
  const std::string name = tokenizer_json.string();
  std::vector<SplitRegex> splits;
  for (const auto& [pattern, where] : config.split_patterns) splits.emplace_back(pattern, name, where);
  std::optional<SplitRegex> gpt2;
  if (config.gpt2_split) gpt2.emplace(kGpt2SplitPattern, name, "pre_tokenizer");
  BpeModel model(std::move(config.vocab), config.merges, std::move(config.bpe), name);
  return ByteLevelBpe(config.nfc, std::move(splits), std::move(gpt2), std::move(model), std::move(config.added_tokens),
                      std::move(config.post_processor));
}

ByteLevelBpe::ByteLevelBpe(bool nfc, std::vector<SplitRegex> splits, std::optional<SplitRegex> gpt2_split,
                           BpeModel model, std::vector<AddedToken> added_tokens, std::string post_processor)
    : nfc_(nfc),
      splits_(std::move(splits)),
      gpt2_split_(std::move(gpt2_split)),
      model_(std::move(model)),
      added_tokens_(std::move(added_tokens)),
      raw_added_(tokens_where(added_tokens_, false)),
      normalized_added_(tokens_where(added_tokens_, true)),
      post_processor_(std::move(post_processor)) {}

std::vector<int32_t> ByteLevelBpe::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  encode_into(text, ids, nullptr);
  return ids;
}

TokenizedText ByteLevelBpe::encode_with_spans(std::string_view text) const {
  TokenizedText out;
  encode_into(text, out.ids, &out.spans);
  return out;
}

std::optional<int32_t> ByteLevelBpe::token_id(std::string_view token) const {
  for (const AddedToken& t : added_tokens_) {
    if (t.content == token) return t.id;
  }
  return model_.token_id(token);
}

int32_t ByteLevelBpe::max_id() const {
  return std::max({model_.max_id(), raw_added_.max_id(), normalized_added_.max_id()});
}

void ByteLevelBpe::encode_into(std::string_view text, std::vector<int32_t>& ids,
                               std::vector<std::pair<uint32_t, uint32_t>>* spans) const {
  if (!simdjson::validate_utf8(text.data(), text.size())) {
    throw Error(Error::Kind::kInvalidInput, "text is not valid UTF-8");
  }
  std::vector<std::pair<uint32_t, uint32_t>> source;
  for (const TextSegment& segment : raw_added_.split(text)) {
    const auto offset = static_cast<uint32_t>(segment.text.data() - text.data());
    if (segment.token_id >= 0) {
      ids.push_back(segment.token_id);
      if (spans != nullptr) spans->emplace_back(offset, offset + static_cast<uint32_t>(segment.text.size()));
    } else if (!nfc_ || is_nfc(segment.text)) {
      encode_normalized(segment.text, SpanMap{offset, nullptr}, ids, spans);
    } else {
      const std::string normalized = to_nfc(segment.text, spans != nullptr ? &source : nullptr);
      encode_normalized(normalized, SpanMap{offset, spans != nullptr ? &source : nullptr}, ids, spans);
    }
  }
}

void ByteLevelBpe::encode_normalized(std::string_view text, const SpanMap& map, std::vector<int32_t>& ids,
                                     std::vector<std::pair<uint32_t, uint32_t>>* spans) const {
  if (normalized_added_.tokens().empty()) {
    encode_pre_tokens(text, 0, map, ids, spans);
    return;
  }
  for (const TextSegment& segment : normalized_added_.split(text)) {
    const auto begin = static_cast<size_t>(segment.text.data() - text.data());
    if (segment.token_id < 0) {
      encode_pre_tokens(segment.text, begin, map, ids, spans);
      continue;
    }
    ids.push_back(segment.token_id);
    if (spans != nullptr) spans->push_back(map(begin, begin + segment.text.size()));
  }
}

void ByteLevelBpe::encode_pre_tokens(std::string_view text, size_t base, const SpanMap& map, std::vector<int32_t>& ids,
                                     std::vector<std::pair<uint32_t, uint32_t>>* spans) const {
  std::vector<std::pair<size_t, size_t>> pieces = {{0, text.size()}};
  std::vector<std::pair<size_t, size_t>> next;
  const auto apply = [&](const SplitRegex& regex) {
    next.clear();
    for (const auto& [b, e] : pieces) regex.split(text.substr(b, e - b), b, next);
    pieces.swap(next);
  };
  for (const SplitRegex& regex : splits_) apply(regex);
  if (gpt2_split_) apply(*gpt2_split_);
  std::vector<BpePiece> bpe;
  for (const auto& [b, e] : pieces) {
    bpe.clear();
    model_.encode(text.substr(b, e - b), bpe);
    for (const BpePiece& p : bpe) {
      ids.push_back(p.id);
      if (spans != nullptr) spans->push_back(map(base + b + p.begin, base + b + p.end));
    }
  }
}

}  // namespace rerankd
