#include "kernels/cpu/cpu_linear.h"

#include "common/error.h"

namespace rerankd::cpu {

StackedWeights stack_weights(std::span<const TensorView* const> weights, std::span<const TensorView* const> biases) {
  if (weights.empty() || (!biases.empty() && weights.size() != biases.size())) {
    throw Error(Error::Kind::kInternal, "stack_weights: weights and biases must pair up");
  }
  StackedWeights s;
  s.in = weights[0]->shape.at(1);
  for (const TensorView* w : weights) s.out += w->shape.at(0);
  s.weights.resize(static_cast<size_t>(s.in * s.out));
  if (!biases.empty()) s.bias.resize(static_cast<size_t>(s.out));
  size_t row = 0;
  const auto in = static_cast<size_t>(s.in);
  for (size_t i = 0; i < weights.size(); ++i) {
    const auto n = static_cast<size_t>(weights[i]->shape[0]);
    convert_to_f32(*weights[i], std::span(s.weights).subspan(row * in, n * in));
    if (weights[i]->shape.at(1) != s.in) throw Error(Error::Kind::kInternal, "stack_weights: inputs differ");
    if (!biases.empty()) convert_to_f32(*biases[i], std::span(s.bias).subspan(row, n));
    row += n;
  }
  return s;
}

}  // namespace rerankd::cpu
