#pragma once
// The copy-paste baseline (issue 11, "How it is judged"): a real defect, cut out by its mask, pasted
// at a random position inside the valid region of a background (real or generated). It is what a
// defect generator must beat: its defects are real pixels, but its edges are the mask's hard edge
// and its placement ignores the surface.
//
//   paste(background [C, H, W], valid [H, W], defect [C, h, w], mask [h, w], stream) -> image, mask
//
// The defect's crop is the bounding box of its mask. A position (top-left corner) is drawn
// uniformly among those where the crop fits in the frame; it is accepted when every pasted mask
// pixel lands on a valid pixel, else another is drawn, up to `max_tries` draws (Philox stream
// offsets 2t, 2t + 1 for draw t, so the result depends only on the stream). With `flips`, the
// crop is mirrored horizontally and/or vertically by two more draws first. Pixels under the mask
// are replaced; the rest stay the background's bytes, and the output mask is the pasted one.
// When no draw fits, the result says so (`placed` false) and the outputs are the background and
// an empty mask: the caller counts it, never silently.

#include <algorithm>
#include <cstdint>
#include <string>

#include "../core/error.hpp"
#include "../core/philox.hpp"
#include "../core/tensor.hpp"

namespace imbdef::data {

struct copy_paste_options {
    int max_tries = 64;
    bool flips = true;
};

struct copy_paste_result {
    bool placed = false;
    int tries = 0;             // draws made
    core::index_t top = 0, left = 0;  // where the crop's top-left corner went
    core::index_t area = 0;    // pasted mask pixels
};

// background [C, H, W], valid [H, W] (> 0.5: valid), defect [C, h, w], mask [h, w] (> 0.5:
// defect); out_image [C, H, W] and out_mask [H, W] (1 / 0). Throws on shapes that do not fit.
template <class T>
copy_paste_result copy_paste(core::const_view<T> background, core::const_view<T> valid, core::const_view<T> defect,
                             core::const_view<T> mask, core::view<T> out_image, core::view<T> out_mask, core::philox_stream rng,
                             const copy_paste_options& o = {}) {
    constexpr const char* where = "data::copy_paste";
    IMBDEF_REQUIRE(background.rank() == 3, where, "a background of shape [C, H, W]", "shape " + background.shape().to_string());
    const core::index_t c = background.size(0), h = background.size(1), w = background.size(2);
    IMBDEF_REQUIRE(valid.shape() == (core::shape{h, w}), where, "a valid region of shape [" + std::to_string(h) + ", " + std::to_string(w) + "]",
                   "shape " + valid.shape().to_string());
    IMBDEF_REQUIRE(defect.rank() == 3 && defect.size(0) == c, where,
                   "a defect image of shape [" + std::to_string(c) + ", h, w] (the background's channels)",
                   "shape " + defect.shape().to_string());
    const core::index_t dh = defect.size(1), dw = defect.size(2);
    IMBDEF_REQUIRE(mask.shape() == (core::shape{dh, dw}), where, "a defect mask of shape [" + std::to_string(dh) + ", " + std::to_string(dw) + "]",
                   "shape " + mask.shape().to_string());
    IMBDEF_REQUIRE(out_image.shape() == background.shape() && out_mask.shape() == valid.shape(), where,
                   "outputs of shapes " + background.shape().to_string() + " and " + valid.shape().to_string(),
                   out_image.shape().to_string() + " and " + out_mask.shape().to_string());
    IMBDEF_REQUIRE(o.max_tries >= 1, where, "max_tries >= 1", std::to_string(o.max_tries));

    // The crop: the mask's bounding box.
    core::index_t y0 = dh, y1 = -1, x0 = dw, x1 = -1;
    for (core::index_t y = 0; y < dh; ++y)
        for (core::index_t x = 0; x < dw; ++x)
            if (mask(y, x) > T(0.5)) {
                y0 = std::min(y0, y), y1 = std::max(y1, y), x0 = std::min(x0, x), x1 = std::max(x1, x);
            }
    IMBDEF_REQUIRE(y1 >= 0, where, "a defect mask with at least one pixel > 0.5", "an empty mask");
    const core::index_t ch = y1 - y0 + 1, cw = x1 - x0 + 1;

    core::copy(background, out_image);
    for (T& v : out_mask) v = T(0);
    copy_paste_result r;
    if (ch > h || cw > w) return r;  // the defect is larger than the frame: nothing fits

    std::uint64_t offset = 0;
    bool flip_y = false, flip_x = false;
    if (o.flips) {
        flip_y = rng.uniform(offset++) < 0.5f;
        flip_x = rng.uniform(offset++) < 0.5f;
    }
    // Source pixel of crop pixel (y, x), mirrored as drawn.
    const auto src_y = [&](core::index_t y) { return y0 + (flip_y ? ch - 1 - y : y); };
    const auto src_x = [&](core::index_t x) { return x0 + (flip_x ? cw - 1 - x : x); };
    for (int t = 0; t < o.max_tries; ++t) {
        ++r.tries;
        const auto top = std::min(h - ch, static_cast<core::index_t>(rng.uniform(offset++) * static_cast<float>(h - ch + 1)));
        const auto left = std::min(w - cw, static_cast<core::index_t>(rng.uniform(offset++) * static_cast<float>(w - cw + 1)));
        bool fits = true;
        for (core::index_t y = 0; y < ch && fits; ++y)
            for (core::index_t x = 0; x < cw; ++x)
                if (mask(src_y(y), src_x(x)) > T(0.5) && !(valid(top + y, left + x) > T(0.5))) {
                    fits = false;
                    break;
                }
        if (!fits) continue;
        for (core::index_t y = 0; y < ch; ++y)
            for (core::index_t x = 0; x < cw; ++x) {
                if (!(mask(src_y(y), src_x(x)) > T(0.5))) continue;
                for (core::index_t k = 0; k < c; ++k) out_image(k, top + y, left + x) = defect(k, src_y(y), src_x(x));
                out_mask(top + y, left + x) = T(1);
                ++r.area;
            }
        r.placed = true;
        r.top = top;
        r.left = left;
        return r;
    }
    return r;
}

}  // namespace imbdef::data
