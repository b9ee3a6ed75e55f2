#pragma once
// GPT-2's byte-to-character table (bytes_to_unicode), which byte-level BPE vocabularies are
// written in: every byte is one printable character, so no byte of any text is ever unknown.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace rerankd {

// The character (as UTF-8) that stands for each byte.
const std::array<std::string, 256>& byte_level_chars();

// `bytes` with each byte replaced by its character.
std::string to_byte_level(std::string_view bytes);

}  // namespace rerankd
