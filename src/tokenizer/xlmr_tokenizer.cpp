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
    throw Error(Error::Kind::kIo, spm_model.string() + ": missing (the tokenizer model is required)");
  }
  // A directory gives sentencepiece's own message, naming no file; a FIFO would block the load.
  if (!std::filesystem::is_regular_file(spm_model)) {
    throw Error(Error::Kind::kIo, spm_model.string() + ": not a regular file");
  }
  const auto status = sp_->Load(spm_model.string());
  if (!status.ok()) {
    throw Error(Error::Kind::kModelFormat,
                spm_model.string() + ": not a sentencepiece model (" + status.ToString() + ")");
  }
  for (int i = 0; i < sp_->GetPieceSize(); ++i) longest_piece_bytes_ = std::max(longest_piece_bytes_, sp_->IdToPiece(i).size());
  added_ = std::make_unique<AddedTokenSplitter>(
      files.added_tokens.empty() ? default_added_tokens(sp_->GetPieceSize() + 1, files.special_tokens_map)
                                 : files.added_tokens);
}

XlmrTokenizer::~XlmrTokenizer() = default;

void XlmrTokenizer::encode_piece(std::string_view text, std::vector<int32_t>& ids) const {
  std::vector<int> pieces;
  const auto status = sp_->Encode(text, &pieces);
  if (!status.ok()) {
    throw Error(Error::Kind::kInternal, "tokenizer: cannot encode text (" + status.ToString() + ")");
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

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

// Why the window gives the same ids as the whole text. Sentencepiece splits its input at
// whitespace before it segments (split_by_whitespace, on in XLM-R's model): a piece never spans a
// space, and each word (with its leading "▁") is segmented on its own. So encode(text) is the
// concatenation of its words' encodings, and a window that ends (kRight) or starts (kLeft) at an
// ASCII space holds exactly the encodings of the words it contains: the first (last) ids of the
// window's encoding are the first (last) ids of the text's. That holds whatever the window's size;
// the size only decides whether the window holds enough ids. It starts at what max_tokens pieces of
// the longest length could cover, and doubles until it holds more ids than asked for (so the ids
// nearest the cut are never the ones returned) or is the whole text. Whitespace runs and characters
// that normalization deletes cost bytes and no ids, which the doubling absorbs.
// A window with no space in it (one word longer than the window, a hash or base64 blob) is cut at
// a character boundary; there a word's segmentation near the cut may differ from the whole word's,
// so kMidWordMargin ids next to the cut are left out. This part is argued, not proven: a word's
// segmentation (unigram's best path as in XLM-R's model, BPE's merges as in the test model) is
// decided in practice by the characters near each piece, not by those kilobytes away; the tests
// compare with encode() on long unbroken words in several scripts, and on spaced text.
XlmrTokenizer::Cut XlmrTokenizer::cut(std::string_view text, size_t window, TruncationSide side) {
  // At the space nearest the window's far end if one lies in its far half (a space nearer would
  // waste the window: "a " before an 8 MiB word), else at a character boundary.
  if (side == TruncationSide::kRight) {
    for (size_t i = window; i > window / 2; --i) {
      if (is_space(text[i - 1])) return {0, i - 1, true};
    }
    size_t end = window;
    while (end > 0 && is_continuation(text[end])) --end;
    return {0, end, false};
  }
  const size_t begin = text.size() - window;
  for (size_t i = begin; i < begin + window / 2; ++i) {
    if (is_space(text[i])) return {i + 1, text.size(), true};
  }
  size_t b = begin;
  while (b < text.size() && is_continuation(text[b])) ++b;
  return {b, text.size(), false};
}

TokenizedText XlmrTokenizer::encode_whole(std::string_view text, bool spans) const {
  if (!spans) return {encode(text), {}};
  TokenizedText out;
  const auto offset = [&](std::string_view part) { return static_cast<uint32_t>(part.data() - text.data()); };
  for (const TextSegment& s : added_->split(text)) {
    const uint32_t at = offset(s.text);
    if (s.token_id >= 0) {
      out.ids.push_back(s.token_id);
      out.spans.emplace_back(at, at + static_cast<uint32_t>(s.text.size()));
      continue;
    }
    const sentencepiece::ImmutableSentencePieceText pieces = sp_->EncodeAsImmutableProto(s.text);
    for (const auto& piece : pieces.pieces()) {
      const auto id = static_cast<int32_t>(piece.id());
      out.ids.push_back(id == sp_->unk_id() ? kUnk : id + 1);  // fairseq's ids, as in encode_piece()
      out.spans.emplace_back(at + piece.begin(), at + piece.end());
    }
  }
  return out;
}

TokenizedText XlmrTokenizer::encode_window(std::string_view text, size_t max_tokens, TruncationSide side,
                                           bool spans) const {
  constexpr size_t kMidWordMargin = 8;
  auto keep_end = [&](TokenizedText t, size_t offset) {
    for (auto& [b, e] : t.spans) b += static_cast<uint32_t>(offset), e += static_cast<uint32_t>(offset);
    if (t.ids.size() <= max_tokens) return t;
    const auto drop = static_cast<std::ptrdiff_t>(t.ids.size() - max_tokens);
    if (side == TruncationSide::kLeft) {
      t.ids.erase(t.ids.begin(), t.ids.begin() + drop);
      if (spans) t.spans.erase(t.spans.begin(), t.spans.begin() + drop);
    } else {
      t.ids.resize(max_tokens);
      if (spans) t.spans.resize(max_tokens);
    }
    return t;
  };
  // A text of max_tokens bytes or fewer fits the first window (and a huge max_tokens would overflow it).
  if (max_tokens >= text.size()) return keep_end(encode_whole(text, spans), 0);
  for (size_t window = (max_tokens + kMidWordMargin + 1) * longest_piece_bytes_;; window *= 2) {
    if (window >= text.size()) return keep_end(encode_whole(text, spans), 0);
    const auto [begin, end, at_space] = cut(text, window, side);
    TokenizedText t = encode_whole(text.substr(begin, end - begin), spans);
    if (t.ids.size() > max_tokens + (at_space ? 0 : kMidWordMargin)) return keep_end(std::move(t), begin);
  }
}

std::vector<int32_t> XlmrTokenizer::encode(std::string_view text, size_t max_tokens, TruncationSide side) const {
  return encode_window(text, max_tokens, side, /*spans=*/false).ids;
}

std::optional<TokenizedText> XlmrTokenizer::encode_with_spans(std::string_view text, size_t max_tokens,
                                                              TruncationSide side) const {
  return encode_window(text, max_tokens, side, /*spans=*/true);
}

size_t XlmrTokenizer::count(std::string_view text) const {
  const size_t window = 4096 * longest_piece_bytes_;
  size_t ids = 0;
  while (text.size() > window) {
    const size_t end = std::max<size_t>(cut(text, window, TruncationSide::kRight).end, 1);  // 0: not UTF-8
    ids += encode(text.substr(0, end)).size();
    text.remove_prefix(end);
  }
  return ids + encode(text).size();
}

EncodedPair XlmrTokenizer::apply_pair_template(const std::vector<int32_t>& query,
                                               const std::vector<int32_t>& document) const {
  EncodedPair out;
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
