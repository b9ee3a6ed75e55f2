#include "tokenizer/prompt_tokenizer.h"

#include <algorithm>

#include "common/error.h"

namespace rerankd {
namespace {

// Qwen3-Reranker-0.6B/4B/8B model card (huggingface.co/Qwen/Qwen3-Reranker-0.6B), "Transformers
// Usage": prefix, suffix, format_instruction and the default task.
constexpr std::string_view kQwen3Prefix =
    "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct "
    "provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n";
constexpr std::string_view kQwen3Suffix = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n";
constexpr std::string_view kQwen3Instruction =
    "Given a web search query, retrieve relevant passages that answer the query";

// mxbai-rerank-v2: github.com/mixedbread-ai/mxbai-rerank, mxbai_rerank/mxbai_rerank_v2.py.
constexpr std::string_view kMxbaiPrefix =
    "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
    "<|im_start|>user\n";
constexpr std::string_view kMxbaiSuffix = "<|im_end|>\n<|im_start|>assistant\n";
constexpr std::string_view kMxbaiTask =
    "You are a search relevance expert who evaluates how well documents match search queries. For each "
    "query-document pair, carefully analyze the semantic relationship between them, then provide your binary "
    "relevance judgment (0 for not relevant, 1 for relevant).\nRelevance:";

// bge-reranker-v2-gemma: FlagEmbedding, inference/reranker/decoder_only/base.py (and the older
// flag_reranker.py's FlagLLMReranker): the default prompt; a request's instruction replaces it.
constexpr std::string_view kBgePrompt =
    "Given a query A and a passage B, determine whether the passage contains an answer to the query by "
    "providing a prediction of either 'Yes' or 'No'.";

constexpr std::string_view kNewline = "\n";

std::string concat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out.append(p);
  return out;
}

void append(std::vector<int32_t>& to, const std::vector<int32_t>& ids) { to.insert(to.end(), ids.begin(), ids.end()); }

// prepare_for_model(first, second, truncation="only_second", max_length): the excess comes off the
// end of `second`; when `second` cannot absorb it, Hugging Face leaves both as they are.
bool cut_only_second(const std::vector<int32_t>& first, std::vector<int32_t>& second, size_t max_length) {
  const size_t total = first.size() + second.size();
  if (total <= max_length) return false;
  const size_t excess = total - max_length;
  if (second.size() <= excess) return false;
  second.resize(second.size() - excess);
  return true;
}

}  // namespace

PromptTokenizer::PromptTokenizer(std::unique_ptr<TextTokenizer> text, ModelFamily family,
                                 const TokenizerFiles& files, const std::string& files_dir)
    : text_(std::move(text)), family_(family), model_max_length_(files.max_length.value_or(0)) {
  auto single = [&](std::string_view token) {
    const std::optional<int32_t> id = text_->token_id(token);
    if (!id) {
      throw Error(Error::Kind::kModelFormat, files_dir + ": the tokenizer has no token '" + std::string(token) +
                                                 "', which this model's scoring reads");
    }
    return *id;
  };
  switch (family) {
    case ModelFamily::kQwen3:
      default_instruction_ = kQwen3Instruction;
      prefix_ = text_->encode(kQwen3Prefix);
      suffix_ = text_->encode(kQwen3Suffix);
      answer_ = {single("yes"), single("no")};  // the card's convert_tokens_to_ids
      fixed_tokens_ = prefix_.size() + suffix_.size();
      break;
    case ModelFamily::kQwen2:
      prefix_ = text_->encode(kMxbaiPrefix);
      suffix_ = text_->encode(kMxbaiSuffix);
      task_ = text_->encode(kMxbaiTask);
      separator_ = text_->encode(kNewline);
      answer_ = {single("1"), single("0")};
      fixed_tokens_ = prefix_.size() + 2 * separator_.size() + task_.size() + suffix_.size();
      break;
    case ModelFamily::kGemma:
      default_instruction_ = kBgePrompt;
      separator_ = text_->encode(kNewline);
      prompt_ = text_->encode(kBgePrompt);
      bos_ = single("<bos>");
      answer_ = {single("Yes"), -1};  // FlagEmbedding: tokenizer('Yes')['input_ids'][0], the raw logit
      fixed_tokens_ = 1 + 2 * separator_.size() + prompt_.size();
      break;
    case ModelFamily::kRoberta:
    case ModelFamily::kBert:
      throw Error(Error::Kind::kInternal, "PromptTokenizer built for an encoder family");
  }
}

EncodedPair PromptTokenizer::encode_prompt(std::string_view instruction, std::string_view query,
                                           std::string_view document, size_t max_length) const {
  switch (family_) {
    case ModelFamily::kQwen3:
      return qwen3(instruction, query, document, max_length);
    case ModelFamily::kQwen2:
      return mxbai(instruction, query, document, max_length);
    case ModelFamily::kGemma:
      return bge_gemma(instruction, query, document, max_length);
    case ModelFamily::kRoberta:
    case ModelFamily::kBert:
      break;
  }
  throw Error(Error::Kind::kInternal, "PromptTokenizer built for an encoder family");
}

EncodedPair PromptTokenizer::qwen3(std::string_view instruction, std::string_view query, std::string_view document,
                                   size_t max_length) const {
  if (max_length <= fixed_tokens_) {
    throw Error(Error::Kind::kInvalidInput, "max_length " + std::to_string(max_length) +
                                                " leaves no room inside the prompt's " + std::to_string(fixed_tokens_) +
                                                " tokens");
  }
  const std::vector<int32_t> body = text_->encode(concat(
      {"<Instruct>: ", instruction.empty() ? kQwen3Instruction : instruction, "\n<Query>: ", query,
       "\n<Document>: ", document}));
  const size_t budget = max_length - fixed_tokens_;
  EncodedPair out;
  out.ids = prefix_;
  out.ids.insert(out.ids.end(), body.begin(), body.begin() + static_cast<std::ptrdiff_t>(std::min(budget, body.size())));
  append(out.ids, suffix_);
  out.truncated = body.size() > budget;
  return out;
}

EncodedPair PromptTokenizer::mxbai(std::string_view instruction, std::string_view query, std::string_view document,
                                   size_t max_length) const {
  // __init__ lowers max_length so that it and the fixed pieces fit model_max_length.
  const size_t predefined = prefix_.size() + task_.size() + suffix_.size() + separator_.size();
  if (model_max_length_ > 0 && max_length + predefined > model_max_length_) {
    max_length = model_max_length_ > predefined ? model_max_length_ - predefined : 1;
  }
  const std::string query_text = instruction.empty() ? concat({"query: ", query})
                                                     : concat({"instruction: ", instruction, "\nquery: ", query});
  std::vector<int32_t> q = text_->encode(query_text);
  const size_t query_cap = max_length * 3 / 4;
  bool truncated = q.size() > query_cap;
  q.resize(std::min(q.size(), query_cap));
  size_t document_cap = max_length;
  if (model_max_length_ > 0) {
    const size_t used = q.size() + predefined;
    document_cap = std::min(document_cap, model_max_length_ > used ? model_max_length_ - used : 0);
  }
  std::vector<int32_t> d = text_->encode(concat({"document: ", document}));
  truncated |= d.size() > document_cap;
  d.resize(std::min(d.size(), document_cap));
  std::vector<int32_t> second = separator_;
  append(second, d);
  truncated |= cut_only_second(q, second, max_length);
  EncodedPair out;
  out.ids = prefix_;
  append(out.ids, q);
  append(out.ids, second);
  append(out.ids, separator_);
  append(out.ids, task_);
  append(out.ids, suffix_);
  out.truncated = truncated;
  return out;
}

EncodedPair PromptTokenizer::bge_gemma(std::string_view instruction, std::string_view query,
                                       std::string_view document, size_t max_length) const {
  const std::vector<int32_t> prompt = instruction.empty() ? prompt_ : text_->encode(instruction);
  std::vector<int32_t> first{bos_};
  std::vector<int32_t> q = text_->encode(concat({"A: ", query}));
  const size_t query_cap = max_length * 3 / 4;
  bool truncated = q.size() > query_cap;
  q.resize(std::min(q.size(), query_cap));
  append(first, q);
  std::vector<int32_t> p = text_->encode(concat({"B: ", document}));
  truncated |= p.size() > max_length;
  p.resize(std::min(p.size(), max_length));
  std::vector<int32_t> second = separator_;
  append(second, p);
  truncated |= cut_only_second(first, second, max_length + separator_.size() + prompt.size());
  EncodedPair out;
  out.ids = std::move(first);
  append(out.ids, second);
  append(out.ids, separator_);
  append(out.ids, prompt);
  out.truncated = truncated;
  return out;
}

EncodedPair PromptTokenizer::apply_pair_template(const std::vector<int32_t>&, const std::vector<int32_t>&) const {
  // The engine asks a prompt-based tokenizer for whole pairs only (encode_prompt).
  throw Error(Error::Kind::kInternal, "a decoder's prompt is built from texts, not from encoded query and document");
}

}  // namespace rerankd
