#pragma once
// Image files in and out, through stb: PNG, JPEG and BMP in (grey, grey + alpha, RGB, RGBA;
// 8-bit, and 16-bit PNG), PNG out.
//
// In memory, pixels are an xt::xtensor<float, 3> of shape (height, width, channels) in [0, 1]
// (8-bit values / 255, 16-bit values / 65535); 8-bit images to write are (height, width, channels)
// uint8. Masks are uint8 (height, width) holding 0 or 255, as on disk; read_mask binarises at 128
// (of 255). Every failure throws imbdef::error naming the file: missing, empty, not one of the
// three formats, truncated or corrupt. Writes are atomic (core/atomic_file.hpp).
//
// stb is compiled into each translation unit that includes this header with static linkage, so
// it never clashes with a program's own copy. A program that includes stb_image.h itself before
// this header must compile stb's implementation itself and define IMBDEF_STB_IMPLEMENTED_ELSEWHERE.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "../core/atomic_file.hpp"
#include "../core/error.hpp"

#if !defined(IMBDEF_STB_IMPLEMENTED_ELSEWHERE)
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#endif
#include <stb_image.h>
#include <stb_image_write.h>

namespace imbdef::data {

enum class file_format { png, jpeg, bmp };

struct image_info {
    int width = 0;
    int height = 0;
    int channels = 0;   // 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA
    int bit_depth = 8;  // 8, or 16 for 16-bit PNG
    file_format format = file_format::png;
};

struct image {
    xt::xtensor<float, 3> pixels;  // (height, width, channels), in [0, 1]
    image_info info;
};

namespace detail {

inline std::vector<unsigned char> read_bytes(const std::filesystem::path& path) {
    const std::string where = "read image " + path.string();
    std::error_code ec;
    IMBDEF_REQUIRE(std::filesystem::is_regular_file(path, ec), where, "an existing file",
                   std::filesystem::exists(path, ec) ? "something that is not a regular file" : "no such file");
    std::ifstream in(path, std::ios::binary);
    IMBDEF_REQUIRE(in.good(), where, "a readable file", "it cannot be opened");
    std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    IMBDEF_REQUIRE(!bytes.empty(), where, "an image file", "an empty file");
    return bytes;
}

inline file_format sniff_format(const std::vector<unsigned char>& b, const std::filesystem::path& path) {
    if (b.size() >= 8 && b[0] == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') return file_format::png;
    if (b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return file_format::jpeg;
    if (b.size() >= 2 && b[0] == 'B' && b[1] == 'M') return file_format::bmp;
    throw imbdef::error("read image " + path.string(), "a PNG, JPEG or BMP file",
                        "a file whose first bytes match none of them");
}

// JPEG and PNG end with a known marker; stb decodes some truncated files without complaint (the
// missing part comes out grey), so a file that lacks its end marker is refused here.
inline void require_complete(const std::vector<unsigned char>& b, file_format f, const std::filesystem::path& path) {
    bool complete = true;
    if (f == file_format::jpeg) {
        std::size_t end = b.size();
        while (end > 2 && (b[end - 1] == 0x00 || b[end - 1] == 0x0A || b[end - 1] == 0x0D)) --end;  // padding
        complete = end >= 2 && b[end - 2] == 0xFF && b[end - 1] == 0xD9;
    } else if (f == file_format::png) {
        static constexpr unsigned char iend[8] = {'I', 'E', 'N', 'D', 0xAE, 0x42, 0x60, 0x82};
        complete = b.size() >= 12 && std::equal(std::begin(iend), std::end(iend), b.end() - 8);
    }
    IMBDEF_REQUIRE(complete, "read image " + path.string(), "a complete file",
                   "a truncated file (its end marker is missing)");
}

inline const char* format_name(file_format f) {
    return f == file_format::png ? "PNG" : f == file_format::jpeg ? "JPEG" : "BMP";
}

}  // namespace detail

// Reads only the header.
inline image_info probe_image(const std::filesystem::path& path) {
    const auto bytes = detail::read_bytes(path);
    image_info info;
    info.format = detail::sniff_format(bytes, path);
    const int n = static_cast<int>(bytes.size());
    IMBDEF_REQUIRE(stbi_info_from_memory(bytes.data(), n, &info.width, &info.height, &info.channels),
                   "read image " + path.string(), std::string("a valid ") + detail::format_name(info.format) + " header",
                   stbi_failure_reason() ? stbi_failure_reason() : "an unreadable header");
    info.bit_depth = stbi_is_16_bit_from_memory(bytes.data(), n) ? 16 : 8;
    return info;
}

inline image read_image(const std::filesystem::path& path) {
    const auto bytes = detail::read_bytes(path);
    image out;
    out.info.format = detail::sniff_format(bytes, path);
    detail::require_complete(bytes, out.info.format, path);
    const std::string where = "read image " + path.string();
    const int n = static_cast<int>(bytes.size());
    int w = 0, h = 0, c = 0;
    const bool sixteen = stbi_is_16_bit_from_memory(bytes.data(), n);
    void* data = sixteen ? static_cast<void*>(stbi_load_16_from_memory(bytes.data(), n, &w, &h, &c, 0))
                         : static_cast<void*>(stbi_load_from_memory(bytes.data(), n, &w, &h, &c, 0));
    IMBDEF_REQUIRE(data != nullptr, where, std::string("a decodable ") + detail::format_name(out.info.format) + " file",
                   std::string("a corrupt file (") + (stbi_failure_reason() ? stbi_failure_reason() : "unknown") + ")");
    IMBDEF_REQUIRE(w > 0 && h > 0 && c >= 1 && c <= 4, where, "a non-empty image with 1 to 4 channels",
                   std::to_string(w) + " x " + std::to_string(h) + " x " + std::to_string(c));
    out.info.width = w;
    out.info.height = h;
    out.info.channels = c;
    out.info.bit_depth = sixteen ? 16 : 8;
    out.pixels = xt::xtensor<float, 3>::from_shape({static_cast<std::size_t>(h), static_cast<std::size_t>(w),
                                                    static_cast<std::size_t>(c)});
    const std::size_t count = out.pixels.size();
    float* dst = out.pixels.data();
    if (sixteen) {
        const auto* src = static_cast<const std::uint16_t*>(data);
        for (std::size_t i = 0; i < count; ++i) dst[i] = static_cast<float>(src[i]) / 65535.0f;
    } else {
        const auto* src = static_cast<const std::uint8_t*>(data);
        for (std::size_t i = 0; i < count; ++i) dst[i] = static_cast<float>(src[i]) / 255.0f;
    }
    stbi_image_free(data);
    return out;
}

// A mask file as 0/255: a pixel is set when its value (the brightest colour channel, alpha
// ignored) is at least 128 of 255 (or 32768 of 65535).
inline xt::xtensor<std::uint8_t, 2> read_mask(const std::filesystem::path& path) {
    const image im = read_image(path);
    const std::size_t h = im.pixels.shape()[0], w = im.pixels.shape()[1], c = im.pixels.shape()[2];
    const std::size_t colour = (c == 2 || c == 4) ? c - 1 : c;
    const float threshold = im.info.bit_depth == 16 ? 32768.0f / 65535.0f : 128.0f / 255.0f;
    xt::xtensor<std::uint8_t, 2> mask = xt::xtensor<std::uint8_t, 2>::from_shape({h, w});
    for (std::size_t y = 0; y < h; ++y)
        for (std::size_t x = 0; x < w; ++x) {
            float v = 0;
            for (std::size_t k = 0; k < colour; ++k) v = std::max(v, im.pixels(y, x, k));
            mask(y, x) = v >= threshold - 1e-7f ? 255 : 0;
        }
    return mask;
}

namespace detail {
inline void append_bytes(void* context, void* data, int size) {
    auto* out = static_cast<std::vector<std::byte>*>(context);
    const auto* p = static_cast<const std::byte*>(data);
    out->insert(out->end(), p, p + size);
}

inline void write_png_bytes(const std::filesystem::path& path, const std::uint8_t* pixels, std::size_t h,
                            std::size_t w, std::size_t c) {
    const std::string where = "write PNG " + path.string();
    IMBDEF_REQUIRE(h > 0 && w > 0 && c >= 1 && c <= 4 && h < (1u << 24) && w < (1u << 24), where,
                   "a non-empty image with 1 to 4 channels",
                   std::to_string(h) + " x " + std::to_string(w) + " x " + std::to_string(c));
    std::vector<std::byte> encoded;
    const int ok = stbi_write_png_to_func(&append_bytes, &encoded, static_cast<int>(w), static_cast<int>(h),
                                          static_cast<int>(c), pixels, static_cast<int>(w * c));
    IMBDEF_REQUIRE(ok != 0, where, "the PNG encoder to succeed", "an encoder failure");
    core::write_file_atomically(path, encoded);
}
}  // namespace detail

// Writes an 8-bit PNG from (height, width, channels) pixels.
inline void write_png(const std::filesystem::path& path, const xt::xtensor<std::uint8_t, 3>& hwc) {
    detail::write_png_bytes(path, hwc.data(), hwc.shape()[0], hwc.shape()[1], hwc.shape()[2]);
}

// Writes a one-channel 8-bit PNG (a mask holds 0 and 255).
inline void write_png_mask(const std::filesystem::path& path, const xt::xtensor<std::uint8_t, 2>& mask) {
    detail::write_png_bytes(path, mask.data(), mask.shape()[0], mask.shape()[1], 1);
}

// [0, 1] floats to 8 bits, rounding to nearest and clamping.
inline xt::xtensor<std::uint8_t, 3> to_u8(const xt::xtensor<float, 3>& pixels) {
    xt::xtensor<std::uint8_t, 3> out = xt::xtensor<std::uint8_t, 3>::from_shape(pixels.shape());
    for (std::size_t i = 0; i < pixels.size(); ++i) {
        const float v = std::clamp(pixels.data()[i], 0.0f, 1.0f) * 255.0f + 0.5f;
        out.data()[i] = static_cast<std::uint8_t>(v);
    }
    return out;
}

}  // namespace imbdef::data
