#pragma once
// A decoder LLM reranker's input, assembled as its authors' code assembles it: the prompt around
// the query and document, tokenized and truncated the same way, so the ids are theirs exactly.
//   Qwen3-Reranker (model card): prefix + body + suffix, where the body
//     "<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {doc}" is tokenized as ONE text and
//     cut on the right to max_length - prefix - suffix.
//   mxbai-rerank-v2 (mxbai_rerank/mxbai_rerank_v2.py): the query part ("instruction: ...\nquery:
//     ...") cut to max_length * 3 // 4, "\n" + "document: ..." cut so the two fit max_length
//     (only the document gives way), then "\n", the task line and the suffix.
//   bge-reranker-v2-gemma (FlagEmbedding's decoder-only reranker): <bos> + "A: {query}" (cut to
//     max_length * 3 // 4) and "\n" + "B: {passage}" tokenized apart, the passage cut so the pair
//     fits max_length + the prompt's tokens, then "\n" and the prompt.
// The strings are in prompt_tokenizer.cpp with their sources. Which answer tokens score the pair
// (answer_tokens()) belongs to the same recipe.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/answer_tokens.h"
#include "model/config.h"
#include "tokenizer/pair_tokenizer.h"
#include "tokenizer/text_tokenizer.h"
#include "tokenizer/tokenizer_files.h"

namespace rerankd {

class PromptTokenizer final : public PairTokenizer {
 public:
  // `family` must be a decoder's. Throws Error(kModelFormat) naming the tokenizer file when a token
  // the recipe needs ("yes", "<bos>", ...) is not a single token of this vocabulary.
  PromptTokenizer(std::unique_ptr<TextTokenizer> text, ModelFamily family, const TokenizerFiles& files,
                  const std::string& files_dir);

  bool prompt_based() const override { return true; }
  EncodedPair encode_prompt(std::string_view instruction, std::string_view query, std::string_view document,
                            size_t max_length) const override;
  const std::string& default_instruction() const override { return default_instruction_; }

  std::vector<int32_t> encode(std::string_view text) const override { return text_->encode(text); }
  size_t pair_special_tokens() const override { return fixed_tokens_; }
  EncodedPair apply_pair_template(const std::vector<int32_t>& query,
                                  const std::vector<int32_t>& document) const override;
  int32_t max_id() const override { return text_->max_id(); }

  AnswerTokens answer_tokens() const override { return answer_; }

 private:
  EncodedPair qwen3(std::string_view instruction, std::string_view query, std::string_view document,
                    size_t max_length) const;
  EncodedPair mxbai(std::string_view instruction, std::string_view query, std::string_view document,
                    size_t max_length) const;
  EncodedPair bge_gemma(std::string_view instruction, std::string_view query, std::string_view document,
                        size_t max_length) const;

  std::unique_ptr<TextTokenizer> text_;
  ModelFamily family_;
  std::string default_instruction_;
  // The recipe's fixed pieces, encoded once; prompt_: bge-gemma's default prompt.
  std::vector<int32_t> prefix_, suffix_, separator_, task_, prompt_;
  int32_t bos_ = -1;
  size_t fixed_tokens_ = 0;  // tokens the recipe adds whatever the texts
  size_t model_max_length_ = 0;  // tokenizer_config.json's, which mxbai's code lowers max_length to
  AnswerTokens answer_;
};

}  // namespace rerankd
