#pragma once
// Defect crops: the part of each image around its defect, at one fixed size, so that set metrics
// made for whole images (SWD, MS-SSIM diversity) can look at the defects instead of the
// background that dominates every frame.
//
// For each sample with a non-empty mask (a pixel set when > 0): the bounding box of the set pixels,
// a square of side max(ceil(padding * longer box side), min_side) centred on the box, cut to the
// image's height and width where it is larger and moved (not cut) to lie inside the image;
// that window of the image is resized to size x size with ops::resize (area averaging when
// shrinking, bicubic when enlarging) and clamped to [-1, 1] (bicubic overshoots at edges). The
// mask's window is resized the same way and set where at least half of a pixel is covered, as
// {0, 1} floats. Samples with an empty mask have no defect and give no crop; `source` says which
// sample each crop came from. Deterministic: each crop is one resize of its own window.

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../ops/resize.hpp"
#include "mask_metrics.hpp"
#include "swd.hpp"

namespace imbdef::metrics {

struct crop_options {
    core::index_t size = 64;     // side of the square crops
    double padding = 1.5;        // window side / longer side of the mask's bounding box
    core::index_t min_side = 8;  // smallest window side, for defects of a few pixels
};

struct defect_crop_set {
    core::tensor<float> images;         // [M, C, size, size]
    core::tensor<float> masks;          // [M, 1, size, size], {0, 1}
    std::vector<core::index_t> source;  // the sample of each crop, M entries
};

inline defect_crop_set defect_crops(core::const_view<float> images, core::const_view<float> masks,
                                    const crop_options& o = {}) {
    constexpr const char* where = "metrics::defect_crops";
    IMBDEF_REQUIRE(images.rank() == 4, where, "images of shape [N, C, H, W]", "shape " + images.shape().to_string());
    detail::require_mask_for(masks.shape(), images.shape(), where, "masks");
    IMBDEF_REQUIRE(o.size >= 1 && o.padding >= 1.0 && std::isfinite(o.padding) && o.min_side >= 1, where,
                   "size >= 1, a finite padding >= 1 and min_side >= 1",
                   "size " + std::to_string(o.size) + ", padding " + std::to_string(o.padding) + ", min_side " +
                       std::to_string(o.min_side));
    const core::index_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);

    struct window {
        core::index_t sample, y0, x0, wh, ww;
    };
    std::vector<window> windows;
    for (core::index_t s = 0; s < n; ++s) {
        core::index_t top = h, bottom = -1, left = w, right = -1;
        for (core::index_t y = 0; y < h; ++y)
            for (core::index_t x = 0; x < w; ++x)
                if (masks[(s * h + y) * w + x] > 0.0f) {
                    top = std::min(top, y);
                    bottom = std::max(bottom, y);
                    left = std::min(left, x);
                    right = std::max(right, x);
                }
        if (bottom < 0) continue;
        const core::index_t longer = std::max(bottom - top + 1, right - left + 1);
        const core::index_t side = std::max(static_cast<core::index_t>(std::ceil(o.padding * static_cast<double>(longer))), o.min_side);
        const core::index_t wh = std::min(side, h), ww = std::min(side, w);
        // Centre on the box (2x the centre, to stay in integers), then move inside the image.
        const core::index_t y0 = std::clamp((top + bottom + 1 - wh) / 2, core::index_t{0}, h - wh);
        const core::index_t x0 = std::clamp((left + right + 1 - ww) / 2, core::index_t{0}, w - ww);
        windows.push_back({s, y0, x0, wh, ww});
    }

    const auto m = static_cast<core::index_t>(windows.size());
    defect_crop_set out{.images = core::tensor<float>({m, c, o.size, o.size}),
                        .masks = core::tensor<float>({m, 1, o.size, o.size}),
                        .source = {}};
    for (core::index_t k = 0; k < m; ++k) {
        const window& win = windows[static_cast<std::size_t>(k)];
        out.source.push_back(win.sample);
        core::tensor<float> cut({1, c + 1, win.wh, win.ww}, core::uninitialized);
        for (core::index_t ch = 0; ch <= c; ++ch)
            for (core::index_t y = 0; y < win.wh; ++y)
                for (core::index_t x = 0; x < win.ww; ++x)
                    cut(0, ch, y, x) = ch < c ? images(win.sample, ch, win.y0 + y, win.x0 + x)
                                              : (masks(win.sample, 0, win.y0 + y, win.x0 + x) > 0.0f ? 1.0f : 0.0f);
        core::tensor<float> resized({1, c + 1, o.size, o.size}, core::uninitialized);
        ops::resize<float>(cut.cview(), resized.view());
        for (core::index_t ch = 0; ch <= c; ++ch)
            for (core::index_t y = 0; y < o.size; ++y)
                for (core::index_t x = 0; x < o.size; ++x) {
                    const float v = resized(0, ch, y, x);
                    if (ch < c)
                        out.images(k, ch, y, x) = std::clamp(v, -1.0f, 1.0f);
                    else
                        out.masks(k, 0, y, x) = v >= 0.5f ? 1.0f : 0.0f;
                }
    }
    return out;
}

// SWD (swd.hpp) between the defect crops of a generated and a real set. SWD compares sets of one
// size, so the first min(M_generated, M_real) crops of each are used; crop size must be at least
// the SWD's min_resolution.
inline swd_result defect_crop_swd(core::const_view<float> generated_images, core::const_view<float> generated_masks,
                                  core::const_view<float> real_images, core::const_view<float> real_masks,
                                  const crop_options& crops = {}, const swd_options& swd = {}) {
    const defect_crop_set g = defect_crops(generated_images, generated_masks, crops);
    const defect_crop_set r = defect_crops(real_images, real_masks, crops);
    const core::index_t n = std::min(g.images.size(0), r.images.size(0));
    IMBDEF_REQUIRE(n >= 1, "metrics::defect_crop_swd", "at least one non-empty mask in each set",
                   std::to_string(g.images.size(0)) + " generated and " + std::to_string(r.images.size(0)) + " real crops");
    const auto first = [&](const core::tensor<float>& t) {
        return core::const_view<float>(t.data(), core::shape{n, t.size(1), t.size(2), t.size(3)});
    };
    return sliced_wasserstein_distance(first(g.images), first(r.images), swd);
}

}  // namespace imbdef::metrics
