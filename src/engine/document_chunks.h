#pragma once
// A request's pairs: the query tokenized once, each document cut to the window by the truncation
// rule or, when chunks are asked for, split into token windows that each fit with the query (the
// document is then scored by its best window). Only as much of a document is tokenized as the caps
// can use, so a 1 MB document costs what its first windows cost.
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include "tokenizer/pair_tokenizer.h"
#include "tokenizer/pair_truncation.h"

namespace rerankd {

// What a request asked for, each field falling back to the server's default.
struct ChunkRequest {
  size_t max_chunks = 0;           // windows per document; 0: not given
  size_t max_document_tokens = 0;  // document tokens considered; 0: not given
  std::optional<size_t> overlap;   // tokens shared by consecutive windows
};

// The settings in force for one request.
struct PairPlan {
  static constexpr size_t kAsManyAsNeeded = std::numeric_limits<size_t>::max();
  TruncationRule rule = TruncationRule::kLongestFirst;
  TruncationSide side = TruncationSide::kRight;
  size_t max_length = 512;
  size_t max_chunks = 1;           // 1: truncation; kAsManyAsNeeded: max_document_tokens decides
  size_t max_document_tokens = 0;  // 0: no cap
  size_t overlap = 0;
  bool overlap_from_request = false;  // an overlap the window cannot hold is the client's error, else clamped
  bool return_chunks = false;  // each document's winning bytes are wanted: the tokenizer must give spans
  std::string_view instruction;  // a decoder's task instruction; empty: its default
};

// Request fields over server defaults: a field the request gives wins; max_document_tokens alone
// (request or server) means as many windows as those tokens need; neither means truncation.
PairPlan resolve_plan(const ChunkRequest& request, const ChunkRequest& defaults, TruncationRule rule,
                      TruncationSide side, size_t max_length);

struct DocumentPair {
  EncodedPair pair;
  uint32_t char_start = 0, char_end = 0;  // the document bytes the pair holds
};

struct DocumentPairs {
  std::vector<DocumentPair> pairs;  // one, or the windows in document order
  bool truncated = false;           // tokens of the query or the document are in no pair
};

class QueryPairs {
 public:
  // Throws Error(kUnprocessable) when the plan cannot work for this query: chunks with
  // truncation_direction Left, a requested overlap not smaller than the window, return_chunks
  // with a tokenizer that gives no byte spans (BERT's); for a decoder's prompt (which its recipe
  // truncates), chunks or truncation_direction Left at all; an instruction for an encoder. `query`
  // must outlive this.
  QueryPairs(const PairTokenizer& tokenizer, std::string_view query, const PairPlan& plan);

  size_t window() const { return window_; }  // document tokens per window
  size_t query_tokens() const { return query_.size(); }
  // Document tokens worth reading: what the caps can use, plus one to know there were more.
  size_t tokens_to_read() const { return tokens_to_read_; }

  DocumentPairs document(std::string_view text) const;

 private:
  void check_prompt_plan() const;
  const PairTokenizer& tokenizer_;
  PairPlan plan_;
  std::string_view query_text_;
  std::vector<int32_t> query_;  // cut to the budget + 1 (whether it had more is all a pair needs)
  size_t window_ = 0;
  size_t tokens_to_read_ = 0;
};

struct TokenRange {
  size_t begin, end;
};
// The windows of a document of `tokens` tokens (already cut to max_document_tokens): [begin, end)
// ranges of `window` tokens, each starting window - overlap after the last, until one reaches the
// document's end or there are max_chunks.
std::vector<TokenRange> chunk_windows(size_t tokens, size_t window, size_t overlap, size_t max_chunks);

}  // namespace rerankd
