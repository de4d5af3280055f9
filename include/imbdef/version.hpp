#pragma once
// The single source of the library's version: CMakeLists.txt parses these three lines.
#define IMBDEF_VERSION_MAJOR 0
#define IMBDEF_VERSION_MINOR 1
#define IMBDEF_VERSION_PATCH 0

namespace imbdef {
inline constexpr int version_major = IMBDEF_VERSION_MAJOR;
inline constexpr int version_minor = IMBDEF_VERSION_MINOR;
inline constexpr int version_patch = IMBDEF_VERSION_PATCH;
}  // namespace imbdef
