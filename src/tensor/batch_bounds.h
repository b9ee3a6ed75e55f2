#pragma once
// The largest forward pass a model will be asked to run. One type from the command line
// (--max-batch-tokens, --max-batch-pairs, --max-length) through the batching policy and the model
// graph to a backend's workspace plan, so a bound means the same thing at every layer.
#include <algorithm>
#include <cstdint>

namespace rerankd {

struct BatchBounds {
  // Tokens in one pass, all sequences together: an upper bound only, the batching policy picks the
  // size in force from measurement.
  int64_t max_tokens = 65536;
  int64_t max_sequences = 1024;       // sequences (pairs) in one pass
  int64_t max_sequence_length = 512;  // tokens of one sequence, special tokens included

  // The largest pass a model whose sequences hold at most `model_longest` tokens can get: the
  // token budget, or one sequence of the longest length if that is more (the policy always lets a
  // pass take its first pair), and no more sequences than tokens.
  BatchBounds largest_pass(int64_t model_longest) const {
    BatchBounds b;
    b.max_sequence_length = std::min(max_sequence_length, model_longest);
    b.max_tokens = std::max(max_tokens, b.max_sequence_length);
    b.max_sequences = std::min(max_sequences, b.max_tokens);
    return b;
  }
};

}  // namespace rerankd
