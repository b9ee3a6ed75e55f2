#pragma once
#include <string_view>

namespace rerankd {
inline constexpr std::string_view kVersion = "0.1.0";
}
