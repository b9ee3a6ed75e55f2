#include "model/config.h"

#include <simdjson.h>

#include <array>
#include <limits>

#include "common/error.h"
#include "model/mapped_file.h"

namespace rerankd {
namespace {

struct Architecture {
  const char* name;
  ModelFamily family;
  const char* model_type;  // the model_type transformers writes beside it
};
constexpr std::array<Architecture, 6> kArchitectures = {{
    {"XLMRobertaForSequenceClassification", ModelFamily::kRoberta, "xlm-roberta"},
    {"RobertaForSequenceClassification", ModelFamily::kRoberta, "roberta"},
    {"BertForSequenceClassification", ModelFamily::kBert, "bert"},
    {"Qwen3ForCausalLM", ModelFamily::kQwen3, "qwen3"},
    {"Qwen2ForCausalLM", ModelFamily::kQwen2, "qwen2"},
    {"GemmaForCausalLM", ModelFamily::kGemma, "gemma"},
}};

std::string supported_list(bool model_types) {
  std::string out;
  for (const Architecture& a : kArchitectures) {
    if (!out.empty()) out.append(", ");
    if (model_types) out.append("'").append(a.model_type).append("'");
    else out.append(a.name);
  }
  return out;
}

class ConfigReader {
 public:
  ConfigReader(const std::filesystem::path& file, simdjson::dom::object root) : file_(file), root_(root) {}

  [[noreturn]] void fail(const std::string& field, const std::string& why) const {
    throw Error(Error::Kind::kModelFormat, file_.string() + ": field '" + field + "' " + why);
  }

  bool has(const char* field) const { return root_[field].error() == simdjson::SUCCESS; }

  int64_t integer(const char* field, std::optional<int64_t> fallback = std::nullopt) const {
    auto value = root_[field];
    if (value.error() == simdjson::NO_SUCH_FIELD) {
      if (fallback) return *fallback;
      fail(field, "is missing");
    }
    int64_t out = 0;
    if (value.get_int64().get(out) != simdjson::SUCCESS) fail(field, "must be an integer");
    return out;
  }

  int64_t positive(const char* field, std::optional<int64_t> fallback = std::nullopt) const {
    int64_t v = integer(field, fallback);
    if (v <= 0) fail(field, "must be positive, got " + std::to_string(v));
    return v;
  }

  double number(const char* field, double fallback) const {
    auto value = root_[field];
    if (value.error() == simdjson::NO_SUCH_FIELD) return fallback;
    double out = 0;
    if (value.get_double().get(out) == simdjson::SUCCESS) return out;
    int64_t as_int = 0;
    if (value.get_int64().get(as_int) == simdjson::SUCCESS) return static_cast<double>(as_int);
    fail(field, "must be a number");
  }

  std::string string(const char* field, std::optional<std::string> fallback = std::nullopt) const {
    auto value = root_[field];
    if (value.error() == simdjson::NO_SUCH_FIELD) {
      if (fallback) return *fallback;
      fail(field, "is missing");
    }
    std::string_view out;
    if (value.get_string().get(out) != simdjson::SUCCESS) fail(field, "must be a string");
    return std::string(out);
  }

  bool boolean(const char* field, bool fallback) const {
    auto value = root_[field];
    if (value.error() == simdjson::NO_SUCH_FIELD || value.is_null()) return fallback;
    bool out = false;
    if (value.get_bool().get(out) != simdjson::SUCCESS) fail(field, "must be true or false");
    return out;
  }

  // Absent or null.
  bool absent(const char* field) const {
    auto value = root_[field];
    return value.error() == simdjson::NO_SUCH_FIELD || value.is_null();
  }

  simdjson::dom::element element(const char* field) const { return root_[field].value_unsafe(); }

 private:
  std::filesystem::path file_;
  simdjson::dom::object root_;
};


// "(8) must divide hidden_size (1000)", built by appending: GCC 12 warns falsely (-Wrestrict) on
// the chain of operator+ this would otherwise be.
std::string must_divide(int64_t divisor, const char* field, int64_t value) {
  std::string m = "(";
  m.append(std::to_string(divisor)).append(") must divide ").append(field).append(" (");
  m.append(std::to_string(value)).append(")");
  return m;
}

void read_encoder_fields(const ConfigReader& r, ModelConfig& c) {
  const bool bert = c.family == ModelFamily::kBert;

  c.hidden_size = r.positive("hidden_size");
  c.num_layers = r.positive("num_hidden_layers");
  c.num_heads = r.positive("num_attention_heads");
  c.intermediate_size = r.positive("intermediate_size");
  c.vocab_size = r.positive("vocab_size");
  c.max_position_embeddings = r.positive("max_position_embeddings");
  c.type_vocab_size = r.positive("type_vocab_size", bert ? 2 : 1);
  c.pad_token_id = r.integer("pad_token_id", bert ? 0 : 1);
  c.layer_norm_eps = r.number("layer_norm_eps", 1e-12);
  c.hidden_act = r.string("hidden_act", "gelu");
  c.torch_dtype = r.string("torch_dtype", "float32");

  if (c.hidden_size % c.num_heads != 0) {
    r.fail("num_attention_heads", must_divide(c.num_heads, "hidden_size", c.hidden_size));
  }
  if (c.hidden_act != "gelu") {
    r.fail("hidden_act", "is '" + c.hidden_act + "'; supported: 'gelu' (exact erf)");
  }
  if (r.string("position_embedding_type", "absolute") != "absolute") {
    r.fail("position_embedding_type", "must be 'absolute'");
  }
  if (c.pad_token_id < 0 || c.pad_token_id >= c.vocab_size) {
    r.fail("pad_token_id", "must lie in [0, vocab_size)");
  }
  // Token ids and positions are int32 in the kernels: a larger table would overflow them.
  constexpr int64_t kMaxRows = std::numeric_limits<int32_t>::max();
  if (c.vocab_size > kMaxRows) r.fail("vocab_size", "exceeds " + std::to_string(kMaxRows));
  if (c.max_position_embeddings > kMaxRows) r.fail("max_position_embeddings", "exceeds " + std::to_string(kMaxRows));
  if (c.max_sequence_length() < 4) {
    r.fail("max_position_embeddings", "is too small for a query/document pair");
  }
  if (!(c.layer_norm_eps > 0)) r.fail("layer_norm_eps", "must be positive");

  // Hugging Face derives num_labels from id2label when present, else from num_labels, else 2.
  if (r.has("id2label")) {
    simdjson::dom::object labels;
    if (r.element("id2label").get_object().get(labels) != simdjson::SUCCESS || labels.size() == 0) {
      r.fail("id2label", "must be a non-empty object");
    }
    c.num_labels = static_cast<int64_t>(labels.size());
  } else {
    c.num_labels = r.positive("num_labels", 2);
  }
}

// The decoder families' fields, as their modeling code reads them (transformers' Qwen3Config,
// Qwen2Config, GemmaConfig). What would change the computation and is not implemented is refused,
// naming the field.
void read_decoder_fields(const ConfigReader& r, ModelConfig& c) {
  c.hidden_size = r.positive("hidden_size");
  c.num_layers = r.positive("num_hidden_layers");
  c.num_heads = r.positive("num_attention_heads");
  c.num_kv_heads = r.positive("num_key_value_heads", c.num_heads);
  c.intermediate_size = r.positive("intermediate_size");
  c.vocab_size = r.positive("vocab_size");
  c.max_position_embeddings = r.positive("max_position_embeddings");
  c.type_vocab_size = 1;
  c.pad_token_id = -1;
  c.layer_norm_eps = r.number("rms_norm_eps", 1e-6);
  c.rope_theta = r.number("rope_theta", 10000);
  c.torch_dtype = r.string("torch_dtype", "float32");
  c.num_labels = 1;  // the graph's one logit per pair: the answer tokens' score
  const bool gemma = c.family == ModelFamily::kGemma;
  // Qwen2 has no head_dim: hidden / heads. Qwen3 and Gemma say it (Gemma-2b: 256 with hidden 2048).
  if (c.family == ModelFamily::kQwen2 || r.absent("head_dim")) {
    if (c.hidden_size % c.num_heads != 0) {
      r.fail("num_attention_heads", must_divide(c.num_heads, "hidden_size", c.hidden_size));
    }
    c.decoder_head_dim = c.hidden_size / c.num_heads;
  } else {
    c.decoder_head_dim = r.positive("head_dim");
  }
  if (c.decoder_head_dim % 2 != 0) r.fail("head_dim", "must be even (rotary embeddings rotate pairs)");
  if (c.num_heads % c.num_kv_heads != 0) {
    r.fail("num_key_value_heads", must_divide(c.num_kv_heads, "num_attention_heads", c.num_heads));
  }
  // Qwen2's q/k/v always have biases; Qwen3 and Gemma follow attention_bias (false in the
  // published checkpoints).
  c.attention_bias = c.family == ModelFamily::kQwen2 ? true : r.boolean("attention_bias", false);
  // transformers' defaults: Qwen2/Qwen3 untied (the 0.6B checkpoints say true), Gemma tied.
  c.tie_word_embeddings = r.boolean("tie_word_embeddings", gemma);
  if (gemma) {
    // GemmaMLP uses hidden_activation, falling back to the tanh GELU whatever hidden_act says
    // (transformers warns that gemma-2b's "gelu" was never what it ran).
    c.hidden_act = r.absent("hidden_activation") ? "gelu_pytorch_tanh" : r.string("hidden_activation");
    if (c.hidden_act != "gelu_pytorch_tanh") {
      r.fail("hidden_activation", "is '" + c.hidden_act + "'; supported: 'gelu_pytorch_tanh'");
    }
  } else {
    c.hidden_act = r.string("hidden_act", "silu");
    if (c.hidden_act != "silu") r.fail("hidden_act", "is '" + c.hidden_act + "'; supported: 'silu'");
  }
  if (!r.absent("rope_scaling")) r.fail("rope_scaling", "is set; only plain RoPE (null) is supported");
  if (r.boolean("use_sliding_window", false)) {
    r.fail("use_sliding_window", "is true; sliding-window attention is not supported");
  }
  constexpr int64_t kMaxRows = std::numeric_limits<int32_t>::max();
  if (c.vocab_size > kMaxRows) r.fail("vocab_size", "exceeds " + std::to_string(kMaxRows));
  if (c.max_position_embeddings > kMaxRows) r.fail("max_position_embeddings", "exceeds " + std::to_string(kMaxRows));
  if (!(c.layer_norm_eps > 0)) r.fail("rms_norm_eps", "must be positive");
  if (!(c.rope_theta > 0)) r.fail("rope_theta", "must be positive");
}

}  // namespace

ModelConfig load_model_config(const std::filesystem::path& config_json) {
  // MappedFile refuses what is missing or not a regular file (a directory, a FIFO) naming it.
  const MappedFile file(config_json);
  const std::string text(reinterpret_cast<const char*>(file.data()), file.size());

  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto err = parser.parse(text).get(doc); err != simdjson::SUCCESS) {
    throw Error(Error::Kind::kModelFormat,
                config_json.string() + ": not valid JSON (" + simdjson::error_message(err) + ")");
  }
  simdjson::dom::object root;
  if (doc.get_object().get(root) != simdjson::SUCCESS) {
    throw Error(Error::Kind::kModelFormat, config_json.string() + ": top level must be a JSON object");
  }
  ConfigReader r(config_json, root);

  ModelConfig c;
  c.model_type = r.string("model_type");
  const Architecture* by_type = nullptr;
  for (const Architecture& a : kArchitectures) {
    if (c.model_type == a.model_type) by_type = &a;
  }
  const Architecture* chosen = by_type;
  if (r.has("architectures")) {  // what transformers builds, so it decides
    simdjson::dom::array archs;
    if (r.element("architectures").get_array().get(archs) != simdjson::SUCCESS || archs.size() == 0) {
      r.fail("architectures", "must be a non-empty array of strings");
    }
    std::string_view arch;
    if ((*archs.begin()).get_string().get(arch) != simdjson::SUCCESS) {
      r.fail("architectures", "must be a non-empty array of strings");
    }
    chosen = nullptr;
    for (const Architecture& a : kArchitectures) {
      if (arch == a.name) chosen = &a;
    }
    if (chosen == nullptr) {
      r.fail("architectures", "is '" + std::string(arch) + "'; supported: " + supported_list(false));
    }
  }
  if (by_type == nullptr) r.fail("model_type", "is '" + c.model_type + "'; supported: " + supported_list(true));
  if (chosen->family != by_type->family) {
    r.fail("model_type", "is '" + c.model_type + "' but architectures names " + chosen->name);
  }
  c.family = chosen->family;
  c.architecture = chosen->name;
  if (c.decoder()) {
    read_decoder_fields(r, c);
  } else {
    read_encoder_fields(r, c);
  }
  return c;
}

}  // namespace rerankd
