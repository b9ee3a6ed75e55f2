#pragma once
// Unicode NFC (tokenizer.json's "NFC" normalizer) through ICU, with where each byte of the result
// came from, for byte spans in the text as it was given.
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace rerankd {

// True when NFC leaves `text` (valid UTF-8) as it is: the common case, checked without copying.
bool is_nfc(std::string_view text);

// NFC of `text` (valid UTF-8). With `source`, (*source)[i] is the range of `text`'s bytes that
// byte i of the result came from: the byte itself where nothing changed, the whole changed
// stretch (a base and its combining marks, say) where something did.
std::string to_nfc(std::string_view text, std::vector<std::pair<uint32_t, uint32_t>>* source = nullptr);

}  // namespace rerankd
