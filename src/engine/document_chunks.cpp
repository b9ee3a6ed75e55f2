#include "engine/document_chunks.h"

#include <algorithm>
#include <string>

#include "common/error.h"

namespace rerankd {
namespace {

size_t budget_of(size_t max_length) {
  return max_length > XlmrTokenizer::kPairSpecialTokens ? max_length - XlmrTokenizer::kPairSpecialTokens : 0;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Tokens dropped from the end of a prefix cut inside a word: its last pieces may differ from the
// whole text's, and a BPE merge reaches back only a few pieces.
constexpr size_t kUncleanCutMargin = 8;

}  // namespace

PairPlan resolve_plan(const ChunkRequest& request, const ChunkRequest& defaults, TruncationRule rule,
                      TruncationSide side, size_t max_length) {
  PairPlan plan;
  plan.rule = rule;
  plan.side = side;
  plan.max_length = max_length;
  plan.max_document_tokens = request.max_document_tokens > 0 ? request.max_document_tokens : defaults.max_document_tokens;
  if (request.max_chunks > 0) plan.max_chunks = request.max_chunks;
  else if (request.max_document_tokens > 0) plan.max_chunks = PairPlan::kAsManyAsNeeded;
  else if (defaults.max_chunks > 0) plan.max_chunks = defaults.max_chunks;
  else plan.max_chunks = plan.max_document_tokens > 0 ? PairPlan::kAsManyAsNeeded : 1;
  plan.overlap_from_request = request.overlap.has_value();
  plan.overlap = request.overlap.value_or(defaults.overlap.value_or(0));
  return plan;
}

std::vector<TokenRange> chunk_windows(size_t tokens, size_t window, size_t overlap, size_t max_chunks) {
  std::vector<TokenRange> out;
  const size_t stride = window - overlap;
  for (size_t begin = 0; out.size() < max_chunks; begin += stride) {
    out.push_back({begin, std::min(begin + window, tokens)});
    if (begin + window >= tokens) break;
  }
  return out;
}

TokenizedText encode_prefix(const XlmrTokenizer& tokenizer, std::string_view text, size_t max_tokens, bool& cut) {
  // A token is rarely longer than 8 bytes; too short a prefix only costs another, twice as long.
  size_t bytes = std::max<size_t>(64, max_tokens > text.size() / 8 ? text.size() : max_tokens * 8);
  for (;;) {
    if (bytes >= text.size()) {
      TokenizedText all = tokenizer.encode_with_spans(text);
      cut = all.ids.size() > max_tokens;
      all.ids.resize(std::min(all.ids.size(), max_tokens));
      all.spans.resize(all.ids.size());
      return all;
    }
    size_t end = bytes;
    while (end > bytes / 2 && !is_space(text[end])) --end;
    const bool clean = is_space(text[end]);
    if (!clean) {
      end = bytes;
      while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;  // a character boundary
    }
    TokenizedText prefix = tokenizer.encode_with_spans(text.substr(0, end));
    if (prefix.ids.size() > max_tokens + (clean ? 0 : kUncleanCutMargin)) {
      cut = true;
      prefix.ids.resize(max_tokens);
      prefix.spans.resize(max_tokens);
      return prefix;
    }
    bytes *= 2;
  }
}

QueryPairs::QueryPairs(const XlmrTokenizer& tokenizer, std::string_view query, const PairPlan& plan)
    : tokenizer_(tokenizer), plan_(plan), query_(tokenizer.encode(query)) {
  const size_t budget = budget_of(plan_.max_length);
  window_ = budget - query_share(plan_.rule, query_.size(), plan_.max_length);
  if (plan_.max_chunks > 1) {
    if (plan_.side == TruncationSide::kLeft) {
      throw Error(Error::Kind::kUnprocessable,
                  "truncation_direction \"Left\" cannot be combined with chunks (max_chunks_per_doc or "
                  "max_tokens_per_doc): windows are laid from the start of the document");
    }
    if (window_ == 0) {
      throw Error(Error::Kind::kUnprocessable, "the query leaves no room for document tokens in max_length " +
                                                   std::to_string(plan_.max_length));
    }
    if (plan_.overlap >= window_) {
      if (plan_.overlap_from_request) {
        throw Error(Error::Kind::kUnprocessable,
                    "field \"chunk_overlap_tokens\" (" + std::to_string(plan_.overlap) +
                        ") must be less than the window, " + std::to_string(window_) +
                        " document tokens with this query (max_length - query tokens - 4)");
      }
      plan_.overlap = window_ - 1;  // a server default the window of a long query cannot hold
    }
  }
  // What the caps can use: the windows allowed, within the token cap. A document that fits the
  // window uses it whole; one longer than the query is all longest_first needs to know to cut it
  // as it cuts the whole document.
  size_t usable = window_;
  if (plan_.max_chunks > 1) {
    const size_t stride = window_ - plan_.overlap;
    usable = plan_.max_chunks == PairPlan::kAsManyAsNeeded
                 ? plan_.max_document_tokens
                 : window_ + std::min(plan_.max_chunks - 1, (std::numeric_limits<size_t>::max() - window_) / stride) * stride;
  }
  if (plan_.max_document_tokens > 0) usable = std::min(usable, plan_.max_document_tokens);
  const size_t needed = std::max(usable, query_.size());
  tokens_to_read_ = needed == std::numeric_limits<size_t>::max() ? needed : needed + 1;
}

DocumentPairs QueryPairs::document(std::string_view text) const {
  DocumentPairs out;
  bool cut = false;
  // Truncation on the left keeps the document's end: that needs all of it.
  TokenizedText doc = plan_.side == TruncationSide::kLeft ? tokenizer_.encode_with_spans(text)
                                                            : encode_prefix(tokenizer_, text, tokens_to_read_, cut);
  size_t considered = doc.ids.size();
  if (plan_.max_document_tokens > 0 && considered > plan_.max_document_tokens) {
    considered = plan_.max_document_tokens;
    keep_tokens(doc.ids, considered, plan_.side);
    if (plan_.side == TruncationSide::kLeft) {
      doc.spans.erase(doc.spans.begin(), doc.spans.end() - static_cast<std::ptrdiff_t>(considered));
    } else {
      doc.spans.resize(considered);
    }
    cut = true;
  }
  const auto span_of = [&](size_t begin, size_t end) -> std::pair<uint32_t, uint32_t> {
    if (begin >= end) return {0, 0};
    return {doc.spans[begin].first, doc.spans[end - 1].second};
  };

  if (plan_.max_chunks == 1 || considered <= window_) {
    const size_t total = doc.ids.size();
    TruncatedPair p = truncate_pair(plan_.rule, query_, std::move(doc.ids), plan_.max_length, plan_.side);
    const size_t kept = p.document_kept;
    const auto [start, end] =
        plan_.side == TruncationSide::kLeft ? span_of(total - kept, total) : span_of(0, kept);
    out.truncated = cut || p.pair.truncated;
    out.pairs.push_back({std::move(p.pair), start, end});
    return out;
  }

  std::vector<int32_t> query = query_;
  const size_t query_kept = query_share(plan_.rule, query.size(), plan_.max_length);
  keep_tokens(query, query_kept, plan_.side);
  const std::vector<TokenRange> windows = chunk_windows(considered, window_, plan_.overlap, plan_.max_chunks);
  out.truncated = cut || query_kept < query_.size() || windows.back().end < considered;
  for (const TokenRange& w : windows) {
    std::vector<int32_t> window(doc.ids.begin() + static_cast<std::ptrdiff_t>(w.begin),
                                doc.ids.begin() + static_cast<std::ptrdiff_t>(w.end));
    const auto [start, end] = span_of(w.begin, w.end);
    out.pairs.push_back({XlmrTokenizer::assemble_pair(query, std::move(window), plan_.max_length, plan_.side), start, end});
  }
  return out;
}

}  // namespace rerankd
