#include "tokenizer/tokenizer_json.h"

#include <simdjson.h>

#include <algorithm>

#include "common/error.h"

namespace rerankd {
namespace {

[[noreturn]] void unsupported(const JsonFile& f, const std::string& where, std::string_view value,
                              const std::string& supported) {
  f.fail(where, "is '" + std::string(value) + "': not supported (" + supported + ")");
}

simdjson::dom::object as_object(const JsonFile& f, simdjson::dom::element e, const std::string& where) {
  simdjson::dom::object o;
  if (e.get_object().get(o) != simdjson::SUCCESS) f.fail(where, "must be an object");
  return o;
}

std::string_view type_of(const JsonFile& f, simdjson::dom::object o, const std::string& where) {
  const auto type = f.string(o, "type", where + ".type");
  if (!type) f.fail(where + ".type", "is missing");
  return *type;
}

void read_normalizer(const JsonFile& f, simdjson::dom::object o, const std::string& where, ByteLevelBpeConfig& out) {
  const std::string_view type = type_of(f, o, where);
  if (type == "NFC") {
    out.nfc = true;
  } else if (type == "Sequence") {
    const auto list = f.array(o, "normalizers", where + ".normalizers");
    if (!list) f.fail(where + ".normalizers", "is missing");
    size_t k = 0;
    for (simdjson::dom::element e : *list) {
      const std::string at = where + ".normalizers[" + std::to_string(k++) + "]";
      read_normalizer(f, as_object(f, e, at), at, out);
    }
  } else {
    unsupported(f, where + ".type", type, "only NFC, a Sequence of NFC, or null");
  }
}

void read_split(const JsonFile& f, simdjson::dom::object o, const std::string& where, ByteLevelBpeConfig& out) {
  const auto pattern = f.object(o, "pattern", where + ".pattern");
  if (!pattern) f.fail(where + ".pattern", "is missing");
  if (f.field(*pattern, "String")) unsupported(f, where + ".pattern", "String", "only {\"Regex\": ...}");
  const auto regex = f.string(*pattern, "Regex", where + ".pattern.Regex");
  if (!regex) f.fail(where + ".pattern.Regex", "is missing");
  const auto behavior = f.string(o, "behavior", where + ".behavior");
  if (!behavior) f.fail(where + ".behavior", "is missing");
  if (*behavior != "Isolated") unsupported(f, where + ".behavior", *behavior, "only Isolated");
  if (f.boolean(o, "invert", where + ".invert").value_or(false)) unsupported(f, where + ".invert", "true", "only false");
  out.split_patterns.emplace_back(std::string(*regex), where + ".pattern.Regex");
}

void read_byte_level(const JsonFile& f, simdjson::dom::object o, const std::string& where, ByteLevelBpeConfig& out) {
  if (f.boolean(o, "add_prefix_space", where + ".add_prefix_space").value_or(false)) {
    unsupported(f, where + ".add_prefix_space", "true", "only false");
  }
  // The library's default for a ByteLevel written without it.
  out.gpt2_split = f.boolean(o, "use_regex", where + ".use_regex").value_or(true);
  (void)f.boolean(o, "trim_offsets", where + ".trim_offsets");  // offsets only: checked for its type
}

void read_pre_tokenizer(const JsonFile& f, ByteLevelBpeConfig& out) {
  const auto pre = f.object(f.root(), "pre_tokenizer", "pre_tokenizer");
  if (!pre) f.fail("pre_tokenizer", "is missing or null: a byte-level BPE needs a ByteLevel pre-tokenizer");
  const std::string_view type = type_of(f, *pre, "pre_tokenizer");
  if (type == "ByteLevel") {
    read_byte_level(f, *pre, "pre_tokenizer", out);
    return;
  }
  if (type != "Sequence") unsupported(f, "pre_tokenizer.type", type, "only ByteLevel, or a Sequence of Split then ByteLevel");
  const auto list = f.array(*pre, "pretokenizers", "pre_tokenizer.pretokenizers");
  if (!list) f.fail("pre_tokenizer.pretokenizers", "is missing");
  bool byte_level = false;
  size_t k = 0;
  for (simdjson::dom::element e : *list) {
    const std::string where = "pre_tokenizer.pretokenizers[" + std::to_string(k++) + "]";
    const simdjson::dom::object step = as_object(f, e, where);
    const std::string_view step_type = type_of(f, step, where);
    // ByteLevel turns bytes into characters: a Split after it would see those, not the text.
    if (byte_level) unsupported(f, where + ".type", step_type, "nothing may follow ByteLevel");
    if (step_type == "Split") {
      read_split(f, step, where, out);
    } else if (step_type == "ByteLevel") {
      read_byte_level(f, step, where, out);
      byte_level = true;
    } else {
      unsupported(f, where + ".type", step_type, "only Split and ByteLevel");
    }
  }
  if (!byte_level) f.fail("pre_tokenizer.pretokenizers", "has no ByteLevel step: only byte-level BPE is supported");
}

// "a b" (the older form) or ["a", "b"].
std::pair<std::string, std::string> read_merge(const JsonFile& f, simdjson::dom::element e, const std::string& where) {
  std::string_view line;
  if (e.get_string().get(line) == simdjson::SUCCESS) {
    const size_t space = line.find(' ');
    if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos) {
      f.fail(where, "must be two tokens separated by one space");
    }
    return {std::string(line.substr(0, space)), std::string(line.substr(space + 1))};
  }
  simdjson::dom::array pair;
  std::string_view left, right;
  if (e.get_array().get(pair) != simdjson::SUCCESS || pair.size() != 2 || pair.at(0).get_string().get(left) != simdjson::SUCCESS ||
      pair.at(1).get_string().get(right) != simdjson::SUCCESS) {
    f.fail(where, "must be \"left right\" or [\"left\", \"right\"]");
  }
  return {std::string(left), std::string(right)};
}

void read_model(const JsonFile& f, ByteLevelBpeConfig& out) {
  const auto model = f.object(f.root(), "model", "model");
  if (!model) f.fail("model", "is missing");
  const std::string_view type = type_of(f, *model, "model");
  if (type != "BPE") unsupported(f, "model.type", type, "only BPE");
  if (const auto dropout = f.field(*model, "dropout")) {
    double p = 0;
    if (dropout->get_double().get(p) != simdjson::SUCCESS) {
      int64_t i = 0;
      if (dropout->get_int64().get(i) != simdjson::SUCCESS) f.fail("model.dropout", "must be a number or null");
      p = static_cast<double>(i);
    }
    // Dropout is for training; 0 drops nothing.
    if (p != 0) unsupported(f, "model.dropout", std::to_string(p), "only null or 0");
  }
  for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const std::string where = std::string("model.") + affix;
    if (const auto value = f.string(*model, affix, where); value && !value->empty()) {
      unsupported(f, where, *value, "only null or empty");
    }
  }
  if (f.boolean(*model, "byte_fallback", "model.byte_fallback").value_or(false)) {
    unsupported(f, "model.byte_fallback", "true", "only false in a byte-level BPE");
  }
  if (const auto unk = f.string(*model, "unk_token", "model.unk_token")) out.bpe.unk_token = std::string(*unk);
  out.bpe.fuse_unk = f.boolean(*model, "fuse_unk", "model.fuse_unk").value_or(false);
  out.bpe.ignore_merges = f.boolean(*model, "ignore_merges", "model.ignore_merges").value_or(false);

  const auto vocab = f.object(*model, "vocab", "model.vocab");
  if (!vocab) f.fail("model.vocab", "is missing");
  out.vocab.reserve(vocab->size());
  for (auto [token, id] : *vocab) {
    out.vocab.emplace(std::string(token), f.token_id(id, "model.vocab." + std::string(token)));
  }
  const auto merges = f.array(*model, "merges", "model.merges");
  if (!merges) f.fail("model.merges", "is missing");
  out.merges.reserve(merges->size());
  size_t k = 0;
  for (simdjson::dom::element e : *merges) {
    out.merges.push_back(read_merge(f, e, "model.merges[" + std::to_string(k++) + "]"));
  }
}

// The tokenizers library ignores the ids tokenizer.json writes for added tokens: it adds them in
// order, each taking its vocabulary id when the model has the content, else the next free id
// (the vocabulary's size, then one past the largest added id). Files it wrote itself agree;
// where one does not, its ids are the ones the model saw.
void assign_added_ids(ByteLevelBpeConfig& config) {
  const auto vocab_size = static_cast<int64_t>(config.vocab.size());
  std::vector<AddedToken> tokens;
  int64_t largest = -1;
  for (AddedToken& t : config.added_tokens) {
    const auto same = std::find_if(tokens.begin(), tokens.end(), [&](const AddedToken& o) { return o.content == t.content; });
    if (same != tokens.end()) {  // listed again: keeps its id, takes the later flags
      t.id = same->id;
      *same = t;
      continue;
    }
    if (const auto it = config.vocab.find(t.content); it != config.vocab.end()) {
      t.id = it->second;
    } else {
      const int64_t id = largest < 0 ? vocab_size : (largest >= vocab_size || vocab_size == 0 ? largest + 1 : vocab_size);
      if (id > INT32_MAX) throw Error(Error::Kind::kModelFormat, "added token ids past 2^31");
      t.id = static_cast<int32_t>(id);
    }
    largest = std::max<int64_t>(largest, t.id);
    tokens.push_back(t);
  }
  config.added_tokens = std::move(tokens);
}

}  // namespace

ByteLevelBpeConfig read_byte_level_bpe_config(const JsonFile& f) {
  ByteLevelBpeConfig out;
  if (const auto normalizer = f.object(f.root(), "normalizer", "normalizer")) read_normalizer(f, *normalizer, "normalizer", out);
  read_pre_tokenizer(f, out);
  read_model(f, out);
  out.added_tokens = f.added_tokens();
  assign_added_ids(out);
  if (const auto post = f.object(f.root(), "post_processor", "post_processor")) {
    out.post_processor = std::string(type_of(f, *post, "post_processor"));
  }
  return out;
}

}  // namespace rerankd
