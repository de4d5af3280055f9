#pragma once
// 64-bit FNV-1a: the one hash imbdef uses to name things by their content. Parameter names seed
// their initialisation streams with it (nn/parameters.hpp); a stage-2 checkpoint records the
// stage-1 file it froze by the hash of its bytes (file_content_hash), so a resume on another file
// is refused. Not cryptographic: it tells files apart, it does not authenticate them.

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "error.hpp"

namespace imbdef::core {

inline constexpr std::uint64_t fnv1a_offset = 0xcbf29ce484222325ull;

constexpr std::uint64_t fnv1a(std::string_view bytes, std::uint64_t h = fnv1a_offset) noexcept {
    for (char c : bytes) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ull;
    }
    return h;
}

// The FNV-1a hash of a file's bytes, as 16 hex digits.
inline std::string file_content_hash(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    IMBDEF_REQUIRE(in.is_open(), "core::file_content_hash", "a readable file", path.string());
    std::uint64_t h = fnv1a_offset;
    char buf[1 << 16];
    while (in) {
        in.read(buf, sizeof buf);
        h = fnv1a(std::string_view(buf, static_cast<std::size_t>(in.gcount())), h);
    }
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    return hex;
}

}  // namespace imbdef::core
