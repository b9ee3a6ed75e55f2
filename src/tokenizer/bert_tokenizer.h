#pragma once
// BERT's tokenizer as Hugging Face's BertTokenizer does it: added tokens ([CLS], [SEP], ...) cut
// out first, then BasicTokenizer (clean the text, split CJK characters, lower-case and strip
// accents per tokenizer_config.json, split on whitespace and punctuation), then greedy
// longest-match WordPiece over vocab.txt. Pairs are [CLS] query [SEP] document [SEP] with
// token_type_ids 0 for the first part and 1 for the second.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/pair_tokenizer.h"
#include "tokenizer/tokenizer_files.h"

namespace rerankd {

struct BasicTokenizerOptions {
  bool lower_case = true;
  bool strip_accents = true;
  bool split_chinese = true;
};

// BasicTokenizer alone: the words WordPiece then splits, as UTF-8.
std::vector<std::string> basic_tokenize(std::string_view text, const BasicTokenizerOptions& options);

class BertTokenizer final : public PairTokenizer {
 public:
  static constexpr size_t kPairSpecialTokens = 3;
  static constexpr size_t kMaxCharsPerWord = 100;  // longer words become [UNK], as in HF

  // Throws Error(kModelFormat) naming vocab.txt when it is missing or lacks [CLS], [SEP] or [UNK].
  BertTokenizer(const std::filesystem::path& vocab_txt, const TokenizerFiles& files = {});
  ~BertTokenizer() override;

  std::vector<int32_t> encode(std::string_view text) const override;
  size_t pair_special_tokens() const override { return kPairSpecialTokens; }
  using PairTokenizer::encode;  // the bounded form: WordPiece's cost grows with the text, no faster
  EncodedPair apply_pair_template(const std::vector<int32_t>& query,
                                  const std::vector<int32_t>& document) const override;
  int32_t max_id() const override;

  const BasicTokenizerOptions& options() const { return options_; }

 private:
  void word_piece(const std::string& word, std::vector<int32_t>& ids) const;

  std::unordered_map<std::string, int32_t> vocab_;
  int32_t vocab_max_id_ = -1;
  int32_t cls_ = -1, sep_ = -1, unk_ = -1;
  BasicTokenizerOptions options_;
  std::unique_ptr<AddedTokenSplitter> added_;
};

}  // namespace rerankd
