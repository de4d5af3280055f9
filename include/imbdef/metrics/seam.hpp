#pragma once
// The seam of a defect patch composed into a full-size image (data/compose_patch.hpp): how much
// sharper the image steps across the patch footprint's border after composing than before.
//
//   seam = mean over border pairs (a, b) that the composition changed of |after(a) - after(b)| - |before(a) - before(b)|
//
// A border pair is a pixel just inside the footprint and its neighbour just outside (rows above
// and below, columns left and right; pairs outside the image are skipped), in every channel; a
// pair counts when either pixel changed. The composition changes pixels only within its band
// around the defect's mask, so a seam arises only where that band reaches the footprint's edge and
// is cut off there; 0 when it never does. Values are in image units ([-1, 1] images: 0.1 is about
// 13 grey levels of 255).

#include <cmath>
#include <string>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace imbdef::metrics {

inline constexpr double default_seam_threshold = 0.1;

template <class T>
double seam_step(core::const_view<T> before, core::const_view<T> after, core::index_t top, core::index_t left, core::index_t size) {
    constexpr const char* where = "metrics::seam_step";
    IMBDEF_REQUIRE(before.rank() == 3 && after.shape() == before.shape(), where, "before and after images of one shape [C, H, W]",
                   before.shape().to_string() + " and " + after.shape().to_string());
    const core::index_t c = before.size(0), h = before.size(1), w = before.size(2);
    IMBDEF_REQUIRE(size >= 1 && top >= 0 && left >= 0 && top + size <= h && left + size <= w, where,
                   "a footprint inside the " + std::to_string(w) + " x " + std::to_string(h) + " image",
                   std::to_string(size) + " px at (top " + std::to_string(top) + ", left " + std::to_string(left) + ")");
    double sum = 0;
    long long pairs = 0;
    const auto pair = [&](core::index_t ya, core::index_t xa, core::index_t yb, core::index_t xb) {
        if (yb < 0 || yb >= h || xb < 0 || xb >= w) return;
        for (core::index_t k = 0; k < c; ++k) {
            const core::index_t a = (k * h + ya) * w + xa, b = (k * h + yb) * w + xb;
            if (after[a] == before[a] && after[b] == before[b]) continue;
            sum += std::abs(static_cast<double>(after[a]) - static_cast<double>(after[b])) -
                   std::abs(static_cast<double>(before[a]) - static_cast<double>(before[b]));
            ++pairs;
        }
    };
    for (core::index_t x = left; x < left + size; ++x) {
        pair(top, x, top - 1, x);
        pair(top + size - 1, x, top + size, x);
    }
    for (core::index_t y = top; y < top + size; ++y) {
        pair(y, left, y, left - 1);
        pair(y, left + size - 1, y, left + size);
    }
    return pairs == 0 ? 0.0 : sum / static_cast<double>(pairs);
}

}  // namespace imbdef::metrics
