#pragma once
// exp, erf and GELU written so GCC vectorizes loops that call them (std::exp/std::erf stay scalar
// without -ffast-math). Accuracy: exp ~2 ulp on [-87, 88]; erf within 1.5e-7 (Abramowitz & Stegun
// 7.1.26), ample for the int8 path whose quantization error is orders of magnitude larger.
#include <bit>
#include <cstdint>

namespace rerankd::cpu {

inline float fast_exp(float x) {
  x = x < -87.f ? -87.f : (x > 88.f ? 88.f : x);
  // e^x = 2^n * e^r, n = round(x / ln 2), |r| <= ln(2) / 2.
  const float n = __builtin_rintf(x * 1.44269504f);  // rint, not roundeven: GCC vectorizes rint
  const float r = x - n * 0.693145752f - n * 1.42860677e-6f;
  float p = 1.f / 5040.f;
  p = p * r + 1.f / 720.f;
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  const auto bits = static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23;
  return p * std::bit_cast<float>(bits);
}

inline float fast_erf(float x) {
  const float a = x < 0 ? -x : x;
  const float t = 1.f / (1.f + 0.3275911f * a);
  float poly = 1.061405429f;
  poly = poly * t - 1.453152027f;
  poly = poly * t + 1.421413741f;
  poly = poly * t - 0.284496736f;
  poly = poly * t + 0.254829592f;
  const float y = 1.f - poly * t * fast_exp(-a * a);
  return x < 0 ? -y : y;
}

// Sum of term(i) over [0, n) in independent lanes. A single running float sum does not vectorize
// without -ffast-math (GCC keeps the additions in order); lanes do, and round less.
constexpr int64_t kReductionLanes = 16;
template <typename Term>
inline float lane_sum(int64_t n, Term&& term) {
  float lanes[kReductionLanes] = {};
  const int64_t whole = n / kReductionLanes * kReductionLanes;
  for (int64_t i = 0; i < whole; i += kReductionLanes) {
    for (int64_t j = 0; j < kReductionLanes; ++j) lanes[j] += term(i + j);
  }
  float sum = 0.f;
  for (int64_t j = 0; j < kReductionLanes; ++j) sum += lanes[j];
  for (int64_t i = whole; i < n; ++i) sum += term(i);
  return sum;
}

// GELU with the exact-erf definition Hugging Face's "gelu" uses.
inline float gelu(float x) { return 0.5f * x * (1.f + fast_erf(x * 0.70710678f)); }

}  // namespace rerankd::cpu
