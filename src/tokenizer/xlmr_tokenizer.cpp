#include "tokenizer/xlmr_tokenizer.h"

#include <sentencepiece_processor.h>

#include <algorithm>

#include "common/error.h"

namespace rerankd {
namespace {

std::vector<AddedToken> default_added_tokens(int32_t mask_id, const std::vector<AddedToken>& special_tokens_map) {
  std::vector<AddedToken> tokens = {{"<s>", XlmrTokenizer::kBos},
                                    {"<pad>", XlmrTokenizer::kPad},
                                    {"</s>", XlmrTokenizer::kEos},
                                    {"<unk>", XlmrTokenizer::kUnk},
                                    {"<mask>", mask_id, /*lstrip=*/true}};
  for (AddedToken& t : tokens) {
    for (const AddedToken& listed : special_tokens_map) {
      if (listed.content == t.content) {
        t.lstrip = listed.lstrip;
        t.rstrip = listed.rstrip;
      }
    }
  }
  return tokens;
}

}  // namespace

XlmrTokenizer::XlmrTokenizer(const std::filesystem::path& spm_model, const TokenizerFiles& files)
    : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {
  if (!std::filesystem::exists(spm_model)) {
    throw Error(Error::Kind::kModelFormat, spm_model.string() + ": missing (the tokenizer model is required)");
  }
  // A directory gives sentencepiece's own message, naming no file; a FIFO would block the load.
  if (!std::filesystem::is_regular_file(spm_model)) {
    throw Error(Error::Kind::kModelFormat, spm_model.string() + ": not a regular file");
  }
  const auto status = sp_->Load(spm_model.string());
  if (!status.ok()) {
    throw Error(Error::Kind::kModelFormat,
                spm_model.string() + ": not a sentencepiece model (" + status.ToString() + ")");
  }
  added_ = std::make_unique<AddedTokenSplitter>(
      files.added_tokens.empty() ? default_added_tokens(sp_->GetPieceSize() + 1, files.special_tokens_map)
                                 : files.added_tokens);
}

XlmrTokenizer::~XlmrTokenizer() = default;

void XlmrTokenizer::encode_piece(std::string_view text, std::vector<int32_t>& ids) const {
  std::vector<int> pieces;
  const auto status = sp_->Encode(text, &pieces);
  if (!status.ok()) {
    throw Error(Error::Kind::kInvalidInput, "tokenizer: cannot encode text (" + status.ToString() + ")");
  }
  // fairseq reserves 0..3 for <s> <pad> </s> <unk>; sentencepiece's own ids shift up by one, and its
  // unknown piece (id 0) becomes fairseq's <unk>.
  for (int piece : pieces) ids.push_back(piece == sp_->unk_id() ? kUnk : piece + 1);
}

std::vector<int32_t> XlmrTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  // Each piece gets sentencepiece's leading "▁" and loses its own edge whitespace, as in
  // XLMRobertaTokenizer (and the fast one, whose normalizer strips each piece's right end).
  for (const TextSegment& s : added_->split(text)) {
    if (s.token_id >= 0) ids.push_back(s.token_id);
    else encode_piece(s.text, ids);
  }
  return ids;
}

EncodedPair XlmrTokenizer::assemble_pair(std::vector<int32_t> query, std::vector<int32_t> document,
                                         size_t max_length, TruncationSide side) const {
  EncodedPair out;
  const size_t budget = max_length > kPairSpecialTokens ? max_length - kPairSpecialTokens : 0;
  out.truncated = truncate_longest_first(query, document, budget, side);
  out.ids.reserve(query.size() + document.size() + kPairSpecialTokens);
  out.ids.push_back(kBos);
  out.ids.insert(out.ids.end(), query.begin(), query.end());
  out.ids.push_back(kEos);
  out.ids.push_back(kEos);
  out.ids.insert(out.ids.end(), document.begin(), document.end());
  out.ids.push_back(kEos);
  return out;
}

int32_t XlmrTokenizer::max_id() const { return std::max(sp_->GetPieceSize() + 1, added_->max_id()); }

}  // namespace rerankd
