#pragma once
// Composing a generated defect patch into a full-size image: the fast path of the issue on defects
// at the detector's resolution. A patch model (train-defect --patch) paints a defect on its own
// generated background patch; what the defect changed, residual = defect - paired background
// (the branch's own contribution, same latent), is carried onto the user's real image at the
// patch's place and the image's own scale:
//
//   n      = round(P / scale)                   the patch's footprint in image pixels
//   m_n    = coverage-resize(m, n) >= 1/2       the defect mask at image scale
//   W      = blur3(dilate(m_n, r_n - 1))        r_n = ceil(band_radius / scale); 0 beyond r_n of m_n
//   image += W * resize(residual, n)            where W > 0, then clamped to [-1, 1]
//   mask  |= m_n;  instance = id where m_n
//
// W is output_composite's weight (models/output_composite.hpp) drawn at image scale, so the
// composed image is the input image bit for bit beyond r_n pixels of the defect's mask: the mask is
// exact by construction, as for generated backgrounds. Several defects compose one after another;
// where masks overlap the later one wins in the instance map (models/defect_maps.hpp's rule).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "../core/error.hpp"
#include "../core/scratch.hpp"
#include "../core/tensor.hpp"
#include "../ops/resize.hpp"

namespace imbdef::data {

struct composed_patch {
    core::index_t top = 0, left = 0, size = 0;  // the footprint in image pixels
    core::index_t area = 0;                      // mask pixels at image scale (0: the defect vanished)
    core::index_t band = 0;                      // r_n: changed pixels lie within this distance of the mask
};

// The footprint side of a P-pixel patch at `scale` (patch pixels per image pixel).
inline core::index_t patch_footprint(core::index_t p, double scale) {
    IMBDEF_REQUIRE(std::isfinite(scale) && scale > 0, "data::patch_footprint", "a scale > 0", std::to_string(scale));
    return std::max<core::index_t>(1, static_cast<core::index_t>(std::llround(static_cast<double>(p) / scale)));
}

namespace compose_detail {

// Chebyshev dilation by r (r <= 0: the mask itself), then a 3 x 3 box mean; outside counts as 0.
inline void band_weight(const std::uint8_t* m, core::index_t n, core::index_t r, float* w) {
    core::scratch_scope<> scratch;
    const core::view<std::uint8_t> d = scratch.allocate<std::uint8_t>(core::shape{n, n});
    for (core::index_t y = 0; y < n; ++y)
        for (core::index_t x = 0; x < n; ++x) {
            std::uint8_t v = 0;
            for (core::index_t yy = std::max<core::index_t>(0, y - r); yy <= std::min(n - 1, y + r) && !v; ++yy)
                for (core::index_t xx = std::max<core::index_t>(0, x - r); xx <= std::min(n - 1, x + r) && !v; ++xx) v = m[yy * n + xx];
            d[y * n + x] = v;
        }
    for (core::index_t y = 0; y < n; ++y)
        for (core::index_t x = 0; x < n; ++x) {
            int s = 0;
            for (core::index_t yy = y - 1; yy <= y + 1; ++yy)
                for (core::index_t xx = x - 1; xx <= x + 1; ++xx)
                    if (yy >= 0 && yy < n && xx >= 0 && xx < n) s += d[yy * n + xx];
            w[y * n + x] = static_cast<float>(s) / 9.0f;
        }
}

}  // namespace compose_detail

// defect, background [C, P, P] in [-1, 1] (a patch model's sample and its paired background); mask
// [P, P] (> 0.5: defect); the footprint's top-left corner (top, left) in the image; band_radius in
// patch pixels (the generator's composite radius, >= 1). image [C, H, W] in [-1, 1] and out_mask
// [H, W] (set to 1 under the defect) are updated; instance [H, W], when not empty, gets
// `instance_id` under the defect. The footprint must lie inside the image.
template <class T>
composed_patch compose_defect_patch(core::const_view<T> defect, core::const_view<T> background, core::const_view<T> mask, double scale,
                                    core::index_t top, core::index_t left, int band_radius, core::view<T> image, core::view<T> out_mask,
                                    core::view<std::int32_t> instance = {}, std::int32_t instance_id = 1) {
    constexpr const char* where = "data::compose_defect_patch";
    IMBDEF_REQUIRE(defect.rank() == 3 && defect.size(1) == defect.size(2) && background.shape() == defect.shape(), where,
                   "a square defect patch [C, P, P] and a background of its shape",
                   defect.shape().to_string() + " and " + background.shape().to_string());
    const core::index_t c = defect.size(0), p = defect.size(1);
    IMBDEF_REQUIRE(mask.shape() == (core::shape{p, p}), where, "a mask [P, P]", mask.shape().to_string());
    IMBDEF_REQUIRE(image.rank() == 3 && image.size(0) == c && out_mask.shape() == (core::shape{image.size(1), image.size(2)}), where,
                   "an image [" + std::to_string(c) + ", H, W] and a mask [H, W]", image.shape().to_string() + " and " + out_mask.shape().to_string());
    IMBDEF_REQUIRE(instance.empty() || instance.shape() == out_mask.shape(), where, "an instance map [H, W] or none", instance.shape().to_string());
    IMBDEF_REQUIRE(band_radius >= 1, where, "a band radius >= 1 patch pixel", std::to_string(band_radius));
    const core::index_t h = image.size(1), w = image.size(2), n = patch_footprint(p, scale);
    IMBDEF_REQUIRE(top >= 0 && left >= 0 && top + n <= h && left + n <= w, where,
                   "a footprint of " + std::to_string(n) + " px inside the " + std::to_string(w) + " x " + std::to_string(h) + " image",
                   "one at (top " + std::to_string(top) + ", left " + std::to_string(left) + ")");

    composed_patch out{top, left, n, 0, static_cast<core::index_t>(std::ceil(static_cast<double>(band_radius) / scale))};
    core::scratch_scope<> scratch;
    // The residual and the mask at image scale.
    const core::view<T> residual = scratch.allocate<T>(core::shape{1, c, p, p});
    for (core::index_t i = 0; i < c * p * p; ++i) residual[i] = defect[i] - background[i];
    const core::view<T> residual_n = scratch.allocate<T>(core::shape{1, c, n, n});
    ops::resize<T, core::cpu>(residual, residual_n);
    const core::view<T> cover = scratch.allocate<T>(core::shape{1, 1, p, p});
    for (core::index_t i = 0; i < p * p; ++i) cover[i] = mask[i] > T(0.5) ? T(1) : T(0);
    const core::view<T> cover_n = scratch.allocate<T>(core::shape{1, 1, n, n});
    ops::resize<T, core::cpu>(cover, cover_n);
    const core::view<std::uint8_t> m_n = scratch.allocate<std::uint8_t>(core::shape{n, n});
    for (core::index_t i = 0; i < n * n; ++i) {
        m_n[i] = cover_n[i] >= T(0.5) - T(1e-5) ? 1 : 0;
        out.area += m_n[i];
    }
    if (out.area == 0) return out;  // the defect vanished at this scale: nothing changes
    const core::view<float> weight = scratch.allocate<float>(core::shape{n, n});
    compose_detail::band_weight(m_n.data(), n, out.band - 1, weight.data());

    for (core::index_t y = 0; y < n; ++y)
        for (core::index_t x = 0; x < n; ++x) {
            const core::index_t q = y * n + x, at = (top + y) * w + left + x;
            if (weight[q] > 0.0f)
                for (core::index_t k = 0; k < c; ++k) {
                    T& v = image[k * h * w + at];
                    v = std::clamp(v + static_cast<T>(weight[q]) * residual_n[k * n * n + q], T(-1), T(1));
                }
            if (m_n[q]) {
                out_mask[at] = T(1);
                if (!instance.empty()) instance[at] = instance_id;
            }
        }
    return out;
}

}  // namespace imbdef::data
