#include "tokenizer/xlmr_tokenizer.h"

#include <sentencepiece_processor.h>

#include <algorithm>

#include "common/error.h"

namespace rerankd {

XlmrTokenizer::XlmrTokenizer(const std::filesystem::path& spm_model)
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
}

XlmrTokenizer::~XlmrTokenizer() = default;

std::vector<int32_t> XlmrTokenizer::encode(std::string_view text) const {
  std::vector<int> pieces;
  const auto status = sp_->Encode(text, &pieces);
  if (!status.ok()) {
    throw Error(Error::Kind::kInvalidInput, "tokenizer: cannot encode text (" + status.ToString() + ")");
  }
  std::vector<int32_t> ids;
  ids.reserve(pieces.size());
  // fairseq reserves 0..3 for <s> <pad> </s> <unk>; sentencepiece's own ids shift up by one, and its
  // unknown piece (id 0) becomes fairseq's <unk>.
  for (int piece : pieces) ids.push_back(piece == sp_->unk_id() ? kUnk : piece + 1);
  return ids;
}

TokenizedText XlmrTokenizer::encode_with_spans(std::string_view text) const {
  const sentencepiece::ImmutableSentencePieceText pieces = sp_->EncodeAsImmutableProto(text);
  TokenizedText out;
  out.ids.reserve(pieces.pieces_size());
  out.spans.reserve(pieces.pieces_size());
  for (const auto& piece : pieces.pieces()) {
    const auto id = static_cast<int>(piece.id());
    out.ids.push_back(id == sp_->unk_id() ? kUnk : id + 1);  // fairseq's ids, as in encode()
    out.spans.emplace_back(piece.begin(), piece.end());
  }
  return out;
}

EncodedPair XlmrTokenizer::assemble_pair(std::vector<int32_t> query, std::vector<int32_t> document,
                                         size_t max_length, TruncationSide side) {
  EncodedPair out;
  const size_t budget = max_length > kPairSpecialTokens ? max_length - kPairSpecialTokens : 0;
  if (query.size() + document.size() > budget) {
    out.truncated = true;
    // Hugging Face's longest_first as its fast (Rust) tokenizer does it, the one bge users run:
    // the shorter side stays whole when it fits in half the budget and the longer gives way;
    // otherwise both are cut to half, the longer side keeping the odd token (the document on a tie).
    const bool query_is_longer = query.size() > document.size();
    const size_t shorter = std::min(query.size(), document.size());
    size_t keep_short = shorter, keep_long = budget - shorter;
    if (shorter * 2 > budget) {
      keep_short = budget / 2;
      keep_long = budget - keep_short;
    }
    const size_t q = query_is_longer ? keep_long : keep_short;
    const size_t d = query_is_longer ? keep_short : keep_long;
    auto keep = [side](std::vector<int32_t>& ids, size_t n) {
      if (side == TruncationSide::kLeft) ids.erase(ids.begin(), ids.end() - static_cast<std::ptrdiff_t>(n));
      else ids.resize(n);
    };
    keep(query, q);
    keep(document, d);
  }
  out.ids.reserve(query.size() + document.size() + kPairSpecialTokens);
  out.ids.push_back(kBos);
  out.ids.insert(out.ids.end(), query.begin(), query.end());
  out.ids.push_back(kEos);
  out.ids.push_back(kEos);
  out.ids.insert(out.ids.end(), document.begin(), document.end());
  out.ids.push_back(kEos);
  return out;
}

EncodedPair XlmrTokenizer::encode_pair(std::string_view query, std::string_view document, size_t max_length,
                                       TruncationSide side) const {
  return assemble_pair(encode(query), encode(document), max_length, side);
}

int32_t XlmrTokenizer::max_id() const { return sp_->GetPieceSize() + 1; }

}  // namespace rerankd
