#pragma once
// Valid-region policies: where on an image a defect may appear (the part, not the backdrop; the
// whole frame for textures). METHOD.md, "Where real valid-region masks come from".
//
// A policy maps a valid_region_input (the decoded pixels and, when known, the image's path) to a
// uint8 mask of 0/255 with the image's height and width. Three implementations:
//   full_frame          every pixel is valid (textures);
//   otsu_foreground     automatic foreground: Otsu threshold on luminance, the class touching the
//                       border less is the part, morphological close then open (square elements),
//                       the largest 8-connected component, holes filled; when the result covers
//                       more than `full_frame_above` of the image (default 95%) the image is taken
//                       to be a texture and the full frame is returned;
//   from_files          a mask file per image, found by a user-given function of the image path,
//                       binarised at 128.
// The default is otsu_foreground with its full-frame fallback.
//
// These are policies in the sense of DESIGN.md (a concept and interchangeable implementations),
// but they live in the data layer: they work on decoded images and one of them reads files.

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "../core/error.hpp"
#include "image_io.hpp"

namespace imbdef::data {

using mask_u8 = xt::xtensor<std::uint8_t, 2>;

struct valid_region_input {
    const xt::xtensor<float, 3>& pixels;  // (height, width, channels) in [0, 1]
    std::filesystem::path image_path{};   // empty for images that never were files
};

template <class P>
concept valid_region_policy = requires(const P p, const valid_region_input& in) {
    { p(in) } -> std::same_as<mask_u8>;
    { P::name } -> std::convertible_to<std::string_view>;
};

struct full_frame {
    static constexpr std::string_view name = "full_frame";
    mask_u8 operator()(const valid_region_input& in) const {
        return mask_u8::from_shape({in.pixels.shape()[0], in.pixels.shape()[1]}) * std::uint8_t{0} + std::uint8_t{255};
    }
};

namespace detail {

// Luminance (Rec. 601 weights) of an image with 1 to 4 channels, alpha ignored, as 0..255 bins.
inline xt::xtensor<std::uint8_t, 2> luminance_u8(const xt::xtensor<float, 3>& px) {
    const std::size_t h = px.shape()[0], w = px.shape()[1], c = px.shape()[2];
    auto out = xt::xtensor<std::uint8_t, 2>::from_shape({h, w});
    for (std::size_t y = 0; y < h; ++y)
        for (std::size_t x = 0; x < w; ++x) {
            const float v = c >= 3 ? 0.299f * px(y, x, 0) + 0.587f * px(y, x, 1) + 0.114f * px(y, x, 2) : px(y, x, 0);
            out(y, x) = static_cast<std::uint8_t>(std::clamp(v, 0.0f, 1.0f) * 255.0f + 0.5f);
        }
    return out;
}

// Otsu's threshold: the t maximising the between-class variance of {v <= t} and {v > t}.
inline int otsu_threshold(const xt::xtensor<std::uint8_t, 2>& grey) {
    double hist[256] = {};
    for (std::uint8_t v : grey) hist[v] += 1;
    const double total = static_cast<double>(grey.size());
    double sum_all = 0;
    for (int i = 0; i < 256; ++i) sum_all += i * hist[i];
    double w0 = 0, sum0 = 0, best = -1;
    int best_t = 127;
    for (int t = 0; t < 255; ++t) {
        w0 += hist[t];
        sum0 += t * hist[t];
        const double w1 = total - w0;
        if (w0 == 0 || w1 == 0) continue;
        const double m0 = sum0 / w0, m1 = (sum_all - sum0) / w1;
        const double between = w0 * w1 * (m0 - m1) * (m0 - m1);
        if (between > best) {
            best = between;
            best_t = t;
        }
    }
    return best_t;
}

// Max (dilate) or min (erode) over a (2r+1)^2 square, separably; outside the image counts as
// background for dilation and as foreground for erosion, so neither invents a border effect.
inline mask_u8 square_filter(const mask_u8& m, int r, bool dilate) {
    if (r <= 0) return m;
    const auto h = static_cast<std::ptrdiff_t>(m.shape()[0]), w = static_cast<std::ptrdiff_t>(m.shape()[1]);
    const std::uint8_t outside = dilate ? 0 : 255;
    mask_u8 tmp = m, out = m;
    for (std::ptrdiff_t y = 0; y < h; ++y)
        for (std::ptrdiff_t x = 0; x < w; ++x) {
            std::uint8_t v = dilate ? 0 : 255;
            for (std::ptrdiff_t k = x - r; k <= x + r; ++k) {
                const std::uint8_t s = (k < 0 || k >= w) ? outside : m(y, k);
                v = dilate ? std::max(v, s) : std::min(v, s);
            }
            tmp(y, x) = v;
        }
    for (std::ptrdiff_t y = 0; y < h; ++y)
        for (std::ptrdiff_t x = 0; x < w; ++x) {
            std::uint8_t v = dilate ? 0 : 255;
            for (std::ptrdiff_t k = y - r; k <= y + r; ++k) {
                const std::uint8_t s = (k < 0 || k >= h) ? outside : tmp(k, x);
                v = dilate ? std::max(v, s) : std::min(v, s);
            }
            out(y, x) = v;
        }
    return out;
}

// Labels pixels equal to `value` reachable from the seeds through 8- (or 4-) neighbours.
inline std::vector<std::size_t> flood(const mask_u8& m, std::uint8_t value, std::vector<std::size_t> stack,
                                      std::vector<char>& seen, bool eight) {
    const std::size_t h = m.shape()[0], w = m.shape()[1];
    std::vector<std::size_t> region;
    while (!stack.empty()) {
        const std::size_t i = stack.back();
        stack.pop_back();
        if (seen[i] || m.data()[i] != value) continue;
        seen[i] = 1;
        region.push_back(i);
        const std::ptrdiff_t y = static_cast<std::ptrdiff_t>(i / w), x = static_cast<std::ptrdiff_t>(i % w);
        for (std::ptrdiff_t dy = -1; dy <= 1; ++dy)
            for (std::ptrdiff_t dx = -1; dx <= 1; ++dx) {
                if ((dy == 0 && dx == 0) || (!eight && dy != 0 && dx != 0)) continue;
                const std::ptrdiff_t ny = y + dy, nx = x + dx;
                if (ny < 0 || nx < 0 || ny >= static_cast<std::ptrdiff_t>(h) || nx >= static_cast<std::ptrdiff_t>(w)) continue;
                const std::size_t j = static_cast<std::size_t>(ny) * w + static_cast<std::size_t>(nx);
                if (!seen[j] && m.data()[j] == value) stack.push_back(j);
            }
    }
    return region;
}

// The largest 8-connected component of the set pixels.
inline mask_u8 largest_component(const mask_u8& m) {
    std::vector<char> seen(m.size(), 0);
    std::vector<std::size_t> best;
    for (std::size_t i = 0; i < m.size(); ++i)
        if (!seen[i] && m.data()[i]) {
            auto region = flood(m, 255, {i}, seen, true);
            if (region.size() > best.size()) best = std::move(region);
        }
    mask_u8 out = xt::zeros<std::uint8_t>(m.shape());
    for (std::size_t i : best) out.data()[i] = 255;
    return out;
}

// Sets every background pixel that the border cannot reach through 4-connected background.
inline mask_u8 fill_holes(const mask_u8& m) {
    const std::size_t h = m.shape()[0], w = m.shape()[1];
    std::vector<std::size_t> border;
    for (std::size_t x = 0; x < w; ++x) border.insert(border.end(), {x, (h - 1) * w + x});
    for (std::size_t y = 0; y < h; ++y) border.insert(border.end(), {y * w, y * w + w - 1});
    std::vector<char> seen(m.size(), 0);
    flood(m, 0, std::move(border), seen, false);
    mask_u8 out = m;
    for (std::size_t i = 0; i < m.size(); ++i)
        if (!m.data()[i] && !seen[i]) out.data()[i] = 255;
    return out;
}

inline double coverage(const mask_u8& m) {
    std::size_t n = 0;
    for (std::uint8_t v : m) n += v != 0;
    return m.size() ? static_cast<double>(n) / static_cast<double>(m.size()) : 0.0;
}

}  // namespace detail

struct otsu_foreground {
    static constexpr std::string_view name = "otsu_foreground";
    int close_radius = 3;            // pixels: bridges small gaps and dark spots on the part
    int open_radius = 2;             // pixels: removes specks of backdrop texture
    double full_frame_above = 0.95;  // a larger foreground means the image is a texture

    mask_u8 operator()(const valid_region_input& in) const {
        IMBDEF_REQUIRE(in.pixels.dimension() == 3 && in.pixels.shape()[0] > 0 && in.pixels.shape()[1] > 0,
                       "data::otsu_foreground " + in.image_path.string(), "a non-empty (height, width, channels) image",
                       "an empty image");
        const auto grey = detail::luminance_u8(in.pixels);
        const int t = detail::otsu_threshold(grey);
        mask_u8 bright = xt::zeros<std::uint8_t>(grey.shape());
        for (std::size_t i = 0; i < grey.size(); ++i) bright.data()[i] = grey.data()[i] > t ? 255 : 0;

        // The backdrop surrounds the part: the class that owns less of the border is the part.
        const std::size_t h = grey.shape()[0], w = grey.shape()[1];
        std::size_t border = 0, border_bright = 0;
        for (std::size_t y = 0; y < h; ++y)
            for (std::size_t x = 0; x < w; ++x)
                if (y == 0 || x == 0 || y + 1 == h || x + 1 == w) {
                    ++border;
                    border_bright += bright(y, x) != 0;
                }
        mask_u8 part = bright;
        if (2 * border_bright > border)
            for (auto& v : part) v = v ? 0 : 255;

        part = detail::square_filter(detail::square_filter(part, close_radius, true), close_radius, false);
        part = detail::square_filter(detail::square_filter(part, open_radius, false), open_radius, true);
        part = detail::fill_holes(detail::largest_component(part));
        if (detail::coverage(part) > full_frame_above) return full_frame{}(in);
        return part;
    }
};

struct from_files {
    static constexpr std::string_view name = "from_files";
    std::function<std::filesystem::path(const std::filesystem::path& image)> mask_path;

    mask_u8 operator()(const valid_region_input& in) const {
        IMBDEF_REQUIRE(static_cast<bool>(mask_path), "data::from_files", "a function from image path to mask path",
                       "none");
        IMBDEF_REQUIRE(!in.image_path.empty(), "data::from_files", "the path of the image", "an image without one");
        const std::filesystem::path p = mask_path(in.image_path);
        mask_u8 m = read_mask(p);
        IMBDEF_REQUIRE(m.shape()[0] == in.pixels.shape()[0] && m.shape()[1] == in.pixels.shape()[1],
                       "valid-region mask " + p.string() + " for image " + in.image_path.string(),
                       "the image's size " + std::to_string(in.pixels.shape()[1]) + " x " +
                           std::to_string(in.pixels.shape()[0]),
                       std::to_string(m.shape()[1]) + " x " + std::to_string(m.shape()[0]));
        return m;
    }
};

static_assert(valid_region_policy<full_frame> && valid_region_policy<otsu_foreground> && valid_region_policy<from_files>);

}  // namespace imbdef::data
