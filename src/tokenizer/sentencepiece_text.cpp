#include "tokenizer/sentencepiece_text.h"

#include <sentencepiece_processor.h>
#include <simdjson.h>

#include <algorithm>

#include "common/error.h"

namespace rerankd {

SentencePieceText SentencePieceText::load(const std::filesystem::path& tokenizer_model, const TokenizerFiles& files) {
  if (!std::filesystem::exists(tokenizer_model)) {
    throw Error(Error::Kind::kIo, tokenizer_model.string() + ": missing (the tokenizer model is required)");
  }
  // A directory gives sentencepiece's own message, naming no file; a FIFO would block the load.
  if (!std::filesystem::is_regular_file(tokenizer_model)) {
    throw Error(Error::Kind::kIo, tokenizer_model.string() + ": not a regular file");
  }
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  if (const auto status = sp->Load(tokenizer_model.string()); !status.ok()) {
    throw Error(Error::Kind::kModelFormat,
                tokenizer_model.string() + ": not a sentencepiece model (" + status.ToString() + ")");
  }
  std::vector<AddedToken> added = files.added_tokens;
  if (added.empty()) {
    // What transformers makes added tokens of when no file lists any: the special tokens
    // (<bos>, <eos>, <pad>, <unk>), which sentencepiece itself never matches in text.
    for (int i = 0; i < sp->GetPieceSize(); ++i) {
      if (sp->IsControl(i) || sp->IsUnknown(i)) added.push_back({sp->IdToPiece(i), i});
    }
  }
  return SentencePieceText(std::move(sp), std::move(added));
}

SentencePieceText::SentencePieceText(std::unique_ptr<sentencepiece::SentencePieceProcessor> sp,
                                     std::vector<AddedToken> added)
    : sp_(std::move(sp)), added_(std::move(added)) {}

SentencePieceText::~SentencePieceText() = default;
SentencePieceText::SentencePieceText(SentencePieceText&&) noexcept = default;
SentencePieceText& SentencePieceText::operator=(SentencePieceText&&) noexcept = default;

std::vector<int32_t> SentencePieceText::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  encode_into(text, ids, nullptr);
  return ids;
}

TokenizedText SentencePieceText::encode_with_spans(std::string_view text) const {
  TokenizedText out;
  encode_into(text, out.ids, &out.spans);
  return out;
}

void SentencePieceText::encode_into(std::string_view text, std::vector<int32_t>& ids,
                                    std::vector<std::pair<uint32_t, uint32_t>>* spans) const {
  // sentencepiece would replace invalid bytes silently; the byte-level tokenizer refuses them, and
  // both tokenizers of one server should answer the same text the same way.
  if (!simdjson::validate_utf8(text.data(), text.size())) {
    throw Error(Error::Kind::kInvalidInput, "text is not valid UTF-8");
  }
  for (const TextSegment& s : added_.split(text)) {
    const auto at = static_cast<uint32_t>(s.text.data() - text.data());
    if (s.token_id >= 0) {
      ids.push_back(s.token_id);
      if (spans != nullptr) spans->emplace_back(at, at + static_cast<uint32_t>(s.text.size()));
      continue;
    }
    if (spans == nullptr) {
      std::vector<int> pieces;
      if (const auto status = sp_->Encode(s.text, &pieces); !status.ok()) {
        throw Error(Error::Kind::kInternal, "tokenizer: cannot encode text (" + status.ToString() + ")");
      }
      ids.insert(ids.end(), pieces.begin(), pieces.end());
      continue;
    }
    const sentencepiece::ImmutableSentencePieceText pieces = sp_->EncodeAsImmutableProto(s.text);
    for (const auto& piece : pieces.pieces()) {
      ids.push_back(static_cast<int32_t>(piece.id()));
      spans->emplace_back(at + piece.begin(), at + piece.end());
    }
  }
}

std::optional<int32_t> SentencePieceText::token_id(std::string_view token) const {
  for (const AddedToken& t : added_.tokens()) {
    if (t.content == token) return t.id;
  }
  const int id = sp_->PieceToId(token);
  // PieceToId answers the unknown piece's id for anything it lacks.
  if (id < 0 || (sp_->IsUnknown(id) && sp_->IdToPiece(id) != token)) return std::nullopt;
  return id;
}

int32_t SentencePieceText::max_id() const { return std::max(sp_->GetPieceSize() - 1, added_.max_id()); }

}  // namespace rerankd
