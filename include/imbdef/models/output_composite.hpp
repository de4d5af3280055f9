#pragma once
// The defect image's last step: outside a narrow band around its defect mask, a generated defect
// image is its paired background, pixel for pixel.
//
//   image = background + B * (defect path's image - background),  B = blur3(dilate(m, radius - 1))
//
// m is the union of the sample's defect masks (1[M >= 0], times the valid region when the
// generator keeps defects inside it), dilate a square (Chebyshev) dilation, blur3 the separable
// [1 2 1] / 4 binomial filter with clamped edges. So B is 1 on every mask pixel (the defect is the
// generator's own), falls off over `radius` pixels beyond the mask (the boundary transition), and
// is exactly 0 farther out: there the output is the background's float, bit for bit. (Radius 1
// would leave B below 1 on the mask's own edge, so the radii are -1, 0 and 2 and up.)
//
// Why: the residual branch blends its features with S = sigmoid(kappa M) at every layer, and S is
// far from 0 wherever M is only slightly negative (sigmoid(-1) = 0.27 for kappa 10 at M = -0.1).
// Nothing in the losses drives M far below 0 (tanh(10 M), what D_match reads, is already -1
// there), so without this step a generated image changes outside the mask that labels it: a
// detector trained on it learns unlabelled changes. With it, the mask is exact by construction,
// the image discriminator judges only what lies inside the band, and it is the same transfer rule
// as painting on a user's own image (METHOD.md, "Defects on a real image").
//
// B is a step function of M, so it passes no gradient to M: the mask head still learns through
// the soft blends inside the network, D_match, ESL and RCL. The image's gradient reaches the
// defect path scaled by B.
//
// radius < 0 turns the step off (B = 1: METHOD.md's plain output); radius 0 pastes the hard mask.

#include <algorithm>
#include <string>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace imbdef::models {

struct output_composite {
    int radius = 2;  // pixels of soft transition beyond the mask; < 0: off

    bool enabled() const noexcept { return radius >= 0; }

    // B for one sample: `inside(q)` says whether pixel q (row-major, r x r) is a defect pixel.
    // `scratch` holds r * r floats; `weight` receives B.
    template <class T, class Inside>
    void weights(core::index_t r, Inside inside, T* scratch, T* weight) const {
        const core::index_t plane = r * r;
        if (!enabled()) {
            std::fill(weight, weight + plane, T(1));
            return;
        }
        for (core::index_t q = 0; q < plane; ++q) weight[q] = inside(q) ? T(1) : T(0);
        if (radius == 0) return;
        // Square dilation by radius - 1, as a separable running maximum (rows, then columns).
        const core::index_t d = radius - 1;
        if (d > 0) {
            for (core::index_t y = 0; y < r; ++y)
                for (core::index_t x = 0; x < r; ++x) {
                    T v = 0;
                    for (core::index_t k = std::max<core::index_t>(0, x - d); k <= std::min(r - 1, x + d) && v == T(0); ++k)
                        v = weight[y * r + k];
                    scratch[y * r + x] = v;
                }
            for (core::index_t y = 0; y < r; ++y)
                for (core::index_t x = 0; x < r; ++x) {
                    T v = 0;
                    for (core::index_t k = std::max<core::index_t>(0, y - d); k <= std::min(r - 1, y + d) && v == T(0); ++k)
                        v = scratch[k * r + x];
                    weight[y * r + x] = v;
                }
        }
        // The binomial blur, rows then columns, edges clamped (a mask at the border stays 1 there).
        const auto at = [r](core::index_t i) { return std::clamp<core::index_t>(i, 0, r - 1); };
        for (core::index_t y = 0; y < r; ++y)
            for (core::index_t x = 0; x < r; ++x)
                scratch[y * r + x] = (weight[y * r + at(x - 1)] + T(2) * weight[y * r + x] + weight[y * r + at(x + 1)]) * T(0.25);
        for (core::index_t y = 0; y < r; ++y)
            for (core::index_t x = 0; x < r; ++x)
                weight[y * r + x] = (scratch[at(y - 1) * r + x] + T(2) * scratch[y * r + x] + scratch[at(y + 1) * r + x]) * T(0.25);
    }
};

inline void check_output_composite(const output_composite& c, const std::string& where) {
    IMBDEF_REQUIRE(c.radius == -1 || c.radius == 0 || (c.radius >= 2 && c.radius <= 64), where,
                   "an output-composite radius of -1 (off), 0 (the hard mask) or 2 to 64 pixels",
                   std::to_string(c.radius));
}

}  // namespace imbdef::models
