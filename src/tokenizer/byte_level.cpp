#include "tokenizer/byte_level.h"

namespace rerankd {
namespace {

std::string utf8(uint32_t c) {
  std::string out;
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else {  // the table stays below U+0800
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
  return out;
}

std::array<std::string, 256> make_table() {
  // Printable Latin-1 bytes stand for themselves; the others (controls, space, DEL, NBSP, soft
  // hyphen, ...) take the code points from U+0100 up, in byte order.
  const auto printable = [](uint32_t b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; };
  std::array<std::string, 256> table;
  uint32_t next = 0x100;
  for (uint32_t b = 0; b < 256; ++b) table[b] = utf8(printable(b) ? b : next++);
  return table;
}

}  // namespace

const std::array<std::string, 256>& byte_level_chars() {
  static const std::array<std::string, 256> table = make_table();
  return table;
}

std::string to_byte_level(std::string_view bytes) {
  const auto& table = byte_level_chars();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += table[static_cast<unsigned char>(c)];
  return out;
}

}  // namespace rerankd
