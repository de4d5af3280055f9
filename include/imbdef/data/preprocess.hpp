#pragma once
// Preprocessing: a decoded image (height, width, channels in [0, 1]) to the square [C, R, R]
// tensor in [-1, 1] that the networks see, and its valid-region mask to the same geometry.
//
// In order:
//   1. channels: alpha is dropped (not composited: a dataset's alpha is a cut-out, and the valid
//      region, not the alpha, says where the part is); then grey is kept or expanded to RGB, and
//      RGB is kept or converted to grey with Rec. 601 weights (0.299, 0.587, 0.114);
//   2. square: centre crop to the shorter side (default), or pad to the longer side replicating
//      the edge pixels (padding with a constant would draw a hard frame the generator must learn
//      to reproduce); odd differences put the extra pixel after (bottom, right). With a `focus`
//      the crop is centred there instead, shifted to stay inside the image (a defect's crop
//      follows the defect: data/defect_set.hpp);
//   3. resize to R x R with ops::resize (area averaging when shrinking, bicubic when enlarging,
//      identity when equal), per axis;
//   4. scale v -> 2v - 1 and clamp to [-1, 1] (bicubic overshoots at edges).
// A mask takes the same crop or pad (padding is 0: the added frame is not part of the surface),
// is resized as a {0, 1} coverage map and set where at least half of a pixel is covered; the
// result is uint8 {0, 1}.
//
// Every function is deterministic and computes each channel plane independently, so the bits do
// not depend on the thread count, and a grey image expanded to RGB gives three copies of exactly
// the plane the grey image gives.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include <xtensor/xtensor.hpp>

#include "../core/error.hpp"
#include "../core/scratch.hpp"
#include "../core/tensor.hpp"
#include "../ops/resize.hpp"

namespace imbdef::data {

enum class square_mode { center_crop, pad_edge };

struct preprocess_options {
    core::index_t resolution = 0;  // R: the output is R x R; required, 1 .. max_resolution
    int channels = 0;              // 0: follow the data (grey -> 1, RGB -> 3); 1: grey; 3: RGB
    square_mode square = square_mode::center_crop;
    // center_crop only: the (y, x) source pixel the square is centred on, clamped so that the square
    // stays inside the image; empty: the image's centre.
    std::optional<std::array<core::index_t, 2>> focus{};

    static constexpr core::index_t max_resolution = 16384;
};

// Native-scale patches: square crops of `size` pixels out of the images resampled by `scale`
// (data/background_patches.hpp, data/defect_patches.hpp).
struct patch_options {
    core::index_t size = 64;  // the patch side: the preset's resolution
    double scale = 1.0;       // images are resampled by this first (one patch pixel = 1 / scale source pixels)
};

namespace detail {

inline std::string preprocess_where(const std::filesystem::path& source) {
    return "preprocess " + (source.empty() ? std::string("image") : source.string());
}

// Where the R_s x R_s square starts in source coordinates; negative offsets are padding.
struct square_geometry {
    core::index_t side = 0, y0 = 0, x0 = 0;
};

inline square_geometry square_of(core::index_t h, core::index_t w, square_mode mode,
                                 const std::optional<std::array<core::index_t, 2>>& focus = std::nullopt) {
    const core::index_t side = mode == square_mode::center_crop ? std::min(h, w) : std::max(h, w);
    if (mode == square_mode::center_crop && focus)
        return {side, std::clamp<core::index_t>((*focus)[0] - side / 2, 0, h - side),
                std::clamp<core::index_t>((*focus)[1] - side / 2, 0, w - side)};
    return {side, (h - side) / 2, (w - side) / 2};  // truncation: the extra pixel goes after
}

// Writes the window of `pixels` at (y0, x0) of out's height and width into out [1, c_out, hh, ww]
// in [-1, 1]: alpha dropped, grey kept or expanded, RGB kept or converted (Rec. 601); positions
// outside the image replicate its edge pixels.
inline void convert_window(const xt::xtensor<float, 3>& pixels, core::index_t y0, core::index_t x0, int c_out, core::view<float> out) {
    const auto h = static_cast<core::index_t>(pixels.shape()[0]), w = static_cast<core::index_t>(pixels.shape()[1]);
    const int c_in = static_cast<int>(pixels.shape()[2]);
    const int colour = (c_in == 2 || c_in == 4) ? c_in - 1 : c_in;
    const core::index_t hh = out.size(2), ww = out.size(3), plane = hh * ww;
    const float* src = pixels.data();
    for (core::index_t y = 0; y < hh; ++y) {
        const core::index_t sy = std::clamp<core::index_t>(y + y0, 0, h - 1);
        for (core::index_t x = 0; x < ww; ++x) {
            const core::index_t sx = std::clamp<core::index_t>(x + x0, 0, w - 1);
            const float* p = src + (sy * w + sx) * c_in;
            float* d = out.data() + y * ww + x;
            if (c_out == 1) {
                const float v = colour == 1 ? p[0] : 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
                d[0] = 2.0f * v - 1.0f;
            } else {
                for (int k = 0; k < 3; ++k) d[k * plane] = 2.0f * p[colour == 1 ? 0 : k] - 1.0f;
            }
        }
    }
}

}  // namespace detail

// Throws imbdef::error (naming `source` when given) for a resolution outside
// [1, max_resolution] or channels other than 0, 1, 3.
inline void validate(const preprocess_options& o, const std::filesystem::path& source = {}) {
    const std::string where = detail::preprocess_where(source);
    IMBDEF_REQUIRE(o.resolution >= 1 && o.resolution <= preprocess_options::max_resolution, where,
                   "a resolution in [1, " + std::to_string(preprocess_options::max_resolution) + "]",
                   "resolution " + std::to_string(o.resolution));
    IMBDEF_REQUIRE(o.channels == 0 || o.channels == 1 || o.channels == 3, where,
                   "channels 0 (follow the data), 1 (grey) or 3 (RGB)", "channels " + std::to_string(o.channels));
    IMBDEF_REQUIRE(o.square == square_mode::center_crop || o.square == square_mode::pad_edge, where,
                   "square mode center_crop or pad_edge", "an unknown square mode");
}

// The channel count preprocessing produces for a file with `file_channels` (1 grey, 2 grey +
// alpha, 3 RGB, 4 RGBA).
inline int preprocessed_channels(const preprocess_options& o, int file_channels,
                                 const std::filesystem::path& source = {}) {
    IMBDEF_REQUIRE(file_channels >= 1 && file_channels <= 4, detail::preprocess_where(source),
                   "an image with 1 to 4 channels", std::to_string(file_channels) + " channels");
    const int colour = (file_channels == 2 || file_channels == 4) ? file_channels - 1 : file_channels;
    return o.channels != 0 ? o.channels : colour;
}

// pixels: (H, W, channels) in [0, 1]. out: [preprocessed_channels, R, R], written in [-1, 1].
inline void preprocess_image(const xt::xtensor<float, 3>& pixels, const preprocess_options& o, core::view<float> out,
                             const std::filesystem::path& source = {}) {
    validate(o, source);
    const std::string where = detail::preprocess_where(source);
    const auto h = static_cast<core::index_t>(pixels.shape()[0]), w = static_cast<core::index_t>(pixels.shape()[1]);
    const int c_in = static_cast<int>(pixels.shape()[2]);
    IMBDEF_REQUIRE(h >= 1 && w >= 1, where, "a non-empty image",
                   std::to_string(w) + " x " + std::to_string(h) + " pixels");
    const int c_out = preprocessed_channels(o, c_in, source);
    const core::index_t r = o.resolution;
    const core::shape want({c_out, r, r});
    IMBDEF_REQUIRE(out.shape() == want, where, "an output of shape " + want.to_string(), out.shape().to_string());

    const auto g = detail::square_of(h, w, o.square, o.focus);
    core::scratch_scope<> scratch;
    const core::view<float> square = scratch.allocate<float>(core::shape{1, c_out, g.side, g.side});
    detail::convert_window(pixels, g.y0, g.x0, c_out, square);
    const core::view<float> y4 = out.reshaped(core::shape{1, c_out, r, r});
    ops::resize<float, core::cpu>(square, y4);
    for (float& v : out) v = std::clamp(v, -1.0f, 1.0f);
}

// The size of an H x W image resampled by `scale`: each side rounded, at least 1.
inline std::array<core::index_t, 2> scaled_size(core::index_t h, core::index_t w, double scale) {
    const auto side = [&](core::index_t n) {
        return std::max<core::index_t>(1, static_cast<core::index_t>(std::llround(static_cast<double>(n) * scale)));
    };
    return {side(h), side(w)};
}

// The whole image, no square, resampled by `scale` (native-scale patches are cut from it:
// data/defect_patches.hpp): [channels, H', W'] (scaled_size) in [-1, 1], by the same channel
// conversion and per-axis resize as preprocess_image. channels 0 follows the data.
inline core::tensor<float> preprocess_scaled(const xt::xtensor<float, 3>& pixels, int channels, double scale,
                                             const std::filesystem::path& source = {}) {
    const std::string where = detail::preprocess_where(source);
    IMBDEF_REQUIRE(std::isfinite(scale) && scale > 0 && scale <= 16, where, "a scale in (0, 16]", std::to_string(scale));
    const auto h = static_cast<core::index_t>(pixels.shape()[0]), w = static_cast<core::index_t>(pixels.shape()[1]);
    IMBDEF_REQUIRE(h >= 1 && w >= 1, where, "a non-empty image", std::to_string(w) + " x " + std::to_string(h) + " pixels");
    const int c = preprocessed_channels(preprocess_options{1, channels}, static_cast<int>(pixels.shape()[2]), source);
    const auto [hs, ws] = scaled_size(h, w, scale);
    core::scratch_scope<> scratch;
    const core::view<float> full = scratch.allocate<float>(core::shape{1, c, h, w});
    detail::convert_window(pixels, 0, 0, c, full);
    core::tensor<float> out(core::shape{c, hs, ws}, core::uninitialized);
    ops::resize<float, core::cpu>(full, out.view().reshaped(core::shape{1, c, hs, ws}));
    for (float& v : out) v = std::clamp(v, -1.0f, 1.0f);
    return out;
}

// A mask (set where >= 128) resampled like preprocess_scaled: [H', W'] {0, 1}, set where at least
// half of a pixel is covered.
inline core::tensor<std::uint8_t> preprocess_mask_scaled(const xt::xtensor<std::uint8_t, 2>& mask, double scale,
                                                         const std::filesystem::path& source = {}) {
    const std::string where = detail::preprocess_where(source) + " (mask)";
    IMBDEF_REQUIRE(std::isfinite(scale) && scale > 0 && scale <= 16, where, "a scale in (0, 16]", std::to_string(scale));
    const auto h = static_cast<core::index_t>(mask.shape()[0]), w = static_cast<core::index_t>(mask.shape()[1]);
    IMBDEF_REQUIRE(h >= 1 && w >= 1, where, "a non-empty mask", std::to_string(w) + " x " + std::to_string(h) + " pixels");
    const auto [hs, ws] = scaled_size(h, w, scale);
    core::scratch_scope<> scratch;
    const core::view<float> full = scratch.allocate<float>(core::shape{1, 1, h, w});
    for (core::index_t i = 0; i < h * w; ++i) full[i] = mask.data()[i] >= 128 ? 1.0f : 0.0f;
    const core::view<float> cover = scratch.allocate<float>(core::shape{1, 1, hs, ws});
    ops::resize<float, core::cpu>(full, cover);
    core::tensor<std::uint8_t> out(core::shape{hs, ws}, core::uninitialized);
    for (core::index_t i = 0; i < hs * ws; ++i) out[i] = cover[i] >= 0.5f - 1e-5f ? 1 : 0;
    return out;
}

// An owning version of preprocess_image.
inline core::tensor<float> preprocess_image(const xt::xtensor<float, 3>& pixels, const preprocess_options& o,
                                            const std::filesystem::path& source = {}) {
    validate(o, source);
    const int c = preprocessed_channels(o, static_cast<int>(pixels.shape()[2]), source);
    core::tensor<float> out(core::shape{c, o.resolution, o.resolution}, core::uninitialized);
    preprocess_image(pixels, o, out.view(), source);
    return out;
}

// mask: (H, W), set where >= 128 (0/255 as read_mask gives). out: [R, R], written {0, 1}.
inline void preprocess_mask(const xt::xtensor<std::uint8_t, 2>& mask, const preprocess_options& o,
                            core::view<std::uint8_t> out, const std::filesystem::path& source = {}) {
    validate(o, source);
    const std::string where = detail::preprocess_where(source) + " (valid-region mask)";
    const auto h = static_cast<core::index_t>(mask.shape()[0]), w = static_cast<core::index_t>(mask.shape()[1]);
    IMBDEF_REQUIRE(h >= 1 && w >= 1, where, "a non-empty mask", std::to_string(w) + " x " + std::to_string(h) + " pixels");
    const core::index_t r = o.resolution;
    const core::shape want({r, r});
    IMBDEF_REQUIRE(out.shape() == want, where, "an output of shape " + want.to_string(), out.shape().to_string());

    const auto g = detail::square_of(h, w, o.square, o.focus);
    core::scratch_scope<> scratch;
    const core::view<float> square = scratch.allocate<float>(core::shape{1, 1, g.side, g.side});
    for (core::index_t y = 0; y < g.side; ++y)
        for (core::index_t x = 0; x < g.side; ++x) {
            const core::index_t sy = y + g.y0, sx = x + g.x0;
            const bool inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
            square.data()[y * g.side + x] =
                inside && mask(static_cast<std::size_t>(sy), static_cast<std::size_t>(sx)) >= 128 ? 1.0f : 0.0f;
        }
    const core::view<float> cover = scratch.allocate<float>(core::shape{1, 1, r, r});
    ops::resize<float, core::cpu>(square, cover);
    // Area weights of an exact half sum to 0.5 only up to rounding.
    for (core::index_t i = 0; i < r * r; ++i) out[i] = cover[i] >= 0.5f - 1e-5f ? 1 : 0;
}

inline core::tensor<std::uint8_t> preprocess_mask(const xt::xtensor<std::uint8_t, 2>& mask, const preprocess_options& o,
                                                  const std::filesystem::path& source = {}) {
    validate(o, source);
    core::tensor<std::uint8_t> out(core::shape{o.resolution, o.resolution}, core::uninitialized);
    preprocess_mask(mask, o, out.view(), source);
    return out;
}

}  // namespace imbdef::data
