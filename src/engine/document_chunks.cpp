#include "engine/document_chunks.h"

#include <algorithm>
#include <string>

#include "common/error.h"

namespace rerankd {
namespace {

size_t budget_of(size_t max_length, size_t specials) { return max_length > specials ? max_length - specials : 0; }

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

QueryPairs::QueryPairs(const PairTokenizer& tokenizer, std::string_view query, const PairPlan& plan)
    : tokenizer_(tokenizer), plan_(plan), query_text_(query) {
  if (tokenizer_.prompt_based()) {
    check_prompt_plan();
    return;
  }
  if (!plan_.instruction.empty()) {
    throw Error(Error::Kind::kUnprocessable,
                "field \"instruction\": this model is a cross-encoder, which takes no instruction; leave it out");
  }
  const size_t specials = tokenizer_.pair_special_tokens();
  const size_t budget = budget_of(plan_.max_length, specials);
  query_ = tokenizer_.encode(query, budget + 1, plan_.side);
  if (plan_.return_chunks && !tokenizer_.encode_with_spans({}, 0, plan_.side)) {
    throw Error(Error::Kind::kUnprocessable,
                "field \"return_chunks\": this model's tokenizer cannot say which bytes of a document its tokens "
                "come from (only XLM-RoBERTa models can); leave return_chunks out");
  }
  window_ = budget - query_share(plan_.rule, query_.size(), plan_.max_length, specials);
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
                        " document tokens with this query (max_length - query tokens - " +
                        std::to_string(specials) + ")");
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

void QueryPairs::check_prompt_plan() const {
  if (plan_.max_chunks > 1 || plan_.return_chunks) {
    throw Error(Error::Kind::kUnprocessable,
                "chunks (max_chunks_per_doc, max_tokens_per_doc, return_chunks) are not available for this model: "
                "a decoder reranker's prompt is tokenized as a whole and truncated by its authors' rule");
  }
  if (plan_.side == TruncationSide::kLeft) {
    throw Error(Error::Kind::kUnprocessable,
                "truncation_direction \"Left\" is not available for this model: its prompt is truncated by its "
                "authors' rule, at the end of the document");
  }
}

DocumentPairs QueryPairs::document(std::string_view text) const {
  if (tokenizer_.prompt_based()) {
    DocumentPairs out;
    DocumentPair pair{tokenizer_.encode_prompt(plan_.instruction, query_text_, text, plan_.max_length), 0,
                      static_cast<uint32_t>(text.size())};
    out.truncated = pair.pair.truncated;
    out.pairs.push_back(std::move(pair));
    return out;
  }
  DocumentPairs out;
  // Bounded: only tokens_to_read_ tokens of the kept end are tokenized, whatever the text's size.
  std::optional<TokenizedText> spanned = tokenizer_.encode_with_spans(text, tokens_to_read_, plan_.side);
  TokenizedText doc = spanned ? std::move(*spanned) : TokenizedText{tokenizer_.encode(text, tokens_to_read_, plan_.side), {}};
  bool cut = doc.ids.size() >= tokens_to_read_;  // read one past what the caps use
  const bool has_spans = !doc.spans.empty() || doc.ids.empty();
  size_t considered = doc.ids.size();
  bool capped = false;
  if (plan_.max_document_tokens > 0 && considered > plan_.max_document_tokens) {
    considered = plan_.max_document_tokens;
    keep_tokens(doc.ids, considered, plan_.side);
    if (has_spans && plan_.side == TruncationSide::kLeft) {
      doc.spans.erase(doc.spans.begin(), doc.spans.end() - static_cast<std::ptrdiff_t>(considered));
    } else if (has_spans) {
      doc.spans.resize(considered);
    }
    cut = capped = true;
  }
  const auto span_of = [&](size_t begin, size_t end) -> std::pair<uint32_t, uint32_t> {
    if (begin >= end || !has_spans) return {0, 0};  // no spans: return_chunks was refused
    return {doc.spans[begin].first, doc.spans[end - 1].second};
  };

  if (plan_.max_chunks == 1 || considered <= window_) {
    const size_t total = doc.ids.size();
    // longest_first needs to know which text is longer only where both were cut (see
    // PairTokenizer::query_is_longer); a document cut to max_document_tokens is that long.
    std::optional<bool> query_longer;
    if (plan_.rule == TruncationRule::kLongestFirst) {
      const size_t budget = budget_of(plan_.max_length, tokenizer_.pair_special_tokens());
      if (!capped) {
        query_longer = tokenizer_.query_is_longer(query_text_, query_.size(), text, total, plan_.max_length);
      } else if (budget % 2 == 1 && query_.size() > budget && considered > budget) {
        query_longer = tokenizer_.count(query_text_) > considered;
      }
    }
    TruncatedPair p =
        truncate_pair(tokenizer_, plan_.rule, query_, std::move(doc.ids), plan_.max_length, plan_.side, query_longer);
    const size_t kept = p.document_kept;
    const auto [start, end] =
        plan_.side == TruncationSide::kLeft ? span_of(total - kept, total) : span_of(0, kept);
    out.truncated = cut || p.pair.truncated;
    out.pairs.push_back({std::move(p.pair), start, end});
    return out;
  }

  std::vector<int32_t> query = query_;
  const size_t query_kept = query_share(plan_.rule, query.size(), plan_.max_length, tokenizer_.pair_special_tokens());
  keep_tokens(query, query_kept, plan_.side);
  const std::vector<TokenRange> windows = chunk_windows(considered, window_, plan_.overlap, plan_.max_chunks);
  out.truncated = cut || query_kept < query_.size() || windows.back().end < considered;
  for (const TokenRange& w : windows) {
    std::vector<int32_t> window(doc.ids.begin() + static_cast<std::ptrdiff_t>(w.begin),
                                doc.ids.begin() + static_cast<std::ptrdiff_t>(w.end));
    const auto [start, end] = span_of(w.begin, w.end);
    out.pairs.push_back({tokenizer_.assemble_pair(query, std::move(window), plan_.max_length, plan_.side), start, end});
  }
  return out;
}

}  // namespace rerankd
