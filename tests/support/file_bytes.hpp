#pragma once
// Whole files as bytes, for tests that corrupt, truncate or compare files.
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

namespace imbdef::test_support {

inline void write_bytes(const std::filesystem::path& p, const std::vector<unsigned char>& b) {
    std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

inline std::vector<unsigned char> read_bytes(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace imbdef::test_support
