#pragma once
// Which tokens' logits, at a decoder's last position, score a pair. The tokenizer's recipe names
// them (tokenizer/prompt_tokenizer.h); the graph reads only their rows of the output embedding.
#include <cstdint>

namespace rerankd {

// logit(positive) - logit(negative), or logit(positive) alone when negative is -1.
struct AnswerTokens {
  int32_t positive = -1;
  int32_t negative = -1;
};

}  // namespace rerankd
