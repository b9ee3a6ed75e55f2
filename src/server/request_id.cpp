#include "server/request_id.h"

#include <cstdint>
#include <random>

namespace rerankd::server {

std::string new_request_id() {
  // Per-thread generator: no lock on the request path, and no two io threads share a sequence.
  thread_local std::mt19937_64 generator{[] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }()};
  uint64_t hi = generator(), lo = generator();
  hi = (hi & ~uint64_t{0xf000}) | 0x4000;                          // version 4
  lo = (lo & ~(uint64_t{0xc} << 60)) | (uint64_t{0x8} << 60);      // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) out += '-';
    const uint64_t word = i < 16 ? hi : lo;
    out += kHex[(word >> (60 - 4 * (i % 16))) & 0xf];
  }
  return out;
}

std::string request_id_for(std::string_view from_client) {
  constexpr size_t kMaxLength = 128;
  if (from_client.empty() || from_client.size() > kMaxLength) return new_request_id();
  for (char c : from_client) {
    if (c < 0x21 || c > 0x7e) return new_request_id();
  }
  return std::string(from_client);
}

}  // namespace rerankd::server
