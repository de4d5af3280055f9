#pragma once
// Exact Euclidean distance transforms of masks, the geometry under the boundary transition metric.
//
// Distances are between pixel centres, in pixels. A pixel is set when its mask value is > 0 (as in
// mask_metrics.hpp). Masks are [N, 1, H, W]; every plane is transformed on its own.
//   squared_distance_transform  for every pixel, the squared distance to the nearest set pixel:
//                               0 on set pixels, +infinity in a plane with no set pixel;
//   signed_distance             +distance to the nearest unset pixel on set (defect) pixels,
//                               -distance to the nearest set pixel on unset (background) pixels,
//                               so |value| >= 1 everywhere, +-infinity when the other side is absent.
// The algorithm is the separable lower envelope of parabolas (Felzenszwalb and Huttenlocher,
// "Distance transforms of sampled functions", 2012): a column pass, then a row pass over its result,
// both exact in double (squared distances are integers). Planes run in parallel, each serially, so
// the bits do not depend on the thread count.

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"

namespace imbdef::metrics {

namespace detail {

inline void require_masks(const core::shape& masks, const std::string& where) {
    IMBDEF_REQUIRE(masks.rank() == 4 && masks[1] == 1, where, "masks of shape [N, 1, H, W]",
                   "shape " + masks.to_string());
}

// d[q * stride] = min over p with finite f[p * stride] of (q - p)^2 + f[p * stride], for q < n;
// +infinity when no f is finite. v and z are scratch of at least n and n + 1 entries.
inline void lower_envelope(const double* f, double* d, core::index_t n, core::index_t stride,
                           std::vector<core::index_t>& v, std::vector<double>& z) {
    constexpr double inf = std::numeric_limits<double>::infinity();
    core::index_t k = -1;
    for (core::index_t q = 0; q < n; ++q) {
        const double fq = f[q * stride];
        if (!std::isfinite(fq)) continue;
        if (k < 0) {
            k = 0;
            v[0] = q;
            z[0] = -inf;
            continue;
        }
        double s = 0;
        for (;;) {
            const core::index_t p = v[static_cast<std::size_t>(k)];
            const double fp = f[p * stride];
            s = ((fq + static_cast<double>(q * q)) - (fp + static_cast<double>(p * p))) / static_cast<double>(2 * (q - p));
            if (s > z[static_cast<std::size_t>(k)]) break;
            --k;  // z[0] = -inf stops this before k < 0
        }
        ++k;
        v[static_cast<std::size_t>(k)] = q;
        z[static_cast<std::size_t>(k)] = s;
    }
    if (k < 0) {
        for (core::index_t q = 0; q < n; ++q) d[q * stride] = inf;
        return;
    }
    z[static_cast<std::size_t>(k + 1)] = inf;
    core::index_t j = 0;
    for (core::index_t q = 0; q < n; ++q) {
        while (z[static_cast<std::size_t>(j + 1)] < static_cast<double>(q)) ++j;
        const core::index_t p = v[static_cast<std::size_t>(j)];
        d[q * stride] = static_cast<double>((q - p) * (q - p)) + f[p * stride];
    }
}

// Squared distances of one h x w plane to the pixels where `set` is true, into `out`.
inline void squared_edt_plane(const std::vector<char>& set, core::index_t h, core::index_t w, std::vector<double>& out) {
    constexpr double inf = std::numeric_limits<double>::infinity();
    const auto hw = static_cast<std::size_t>(h * w);
    std::vector<double> f(hw), g(hw);
    for (std::size_t i = 0; i < hw; ++i) f[i] = set[i] ? 0.0 : inf;
    const auto longest = static_cast<std::size_t>(std::max(h, w));
    std::vector<core::index_t> v(longest);
    std::vector<double> z(longest + 1);
    for (core::index_t x = 0; x < w; ++x) lower_envelope(f.data() + x, g.data() + x, h, w, v, z);
    out.resize(hw);
    for (core::index_t y = 0; y < h; ++y) lower_envelope(g.data() + y * w, out.data() + y * w, w, 1, v, z);
}

}  // namespace detail

inline core::tensor<float> squared_distance_transform(core::const_view<float> masks) {
    detail::require_masks(masks.shape(), "metrics::squared_distance_transform");
    const core::index_t n = masks.size(0), h = masks.size(2), w = masks.size(3), hw = h * w;
    core::tensor<float> out(masks.shape(), core::uninitialized);
    core::parallel_for(0, n, 1, [&](core::index_t lo, core::index_t hi) {
        std::vector<char> set(static_cast<std::size_t>(hw));
        std::vector<double> d;
        for (core::index_t s = lo; s < hi; ++s) {
            for (core::index_t i = 0; i < hw; ++i) set[static_cast<std::size_t>(i)] = masks[s * hw + i] > 0.0f;
            detail::squared_edt_plane(set, h, w, d);
            for (core::index_t i = 0; i < hw; ++i) out[s * hw + i] = static_cast<float>(d[static_cast<std::size_t>(i)]);
        }
    });
    return out;
}

inline core::tensor<float> signed_distance(core::const_view<float> masks) {
    detail::require_masks(masks.shape(), "metrics::signed_distance");
    const core::index_t n = masks.size(0), h = masks.size(2), w = masks.size(3), hw = h * w;
    core::tensor<float> out(masks.shape(), core::uninitialized);
    core::parallel_for(0, n, 1, [&](core::index_t lo, core::index_t hi) {
        std::vector<char> set(static_cast<std::size_t>(hw)), unset(static_cast<std::size_t>(hw));
        std::vector<double> to_set, to_unset;
        for (core::index_t s = lo; s < hi; ++s) {
            for (core::index_t i = 0; i < hw; ++i) {
                set[static_cast<std::size_t>(i)] = masks[s * hw + i] > 0.0f;
                unset[static_cast<std::size_t>(i)] = !set[static_cast<std::size_t>(i)];
            }
            detail::squared_edt_plane(set, h, w, to_set);
            detail::squared_edt_plane(unset, h, w, to_unset);
            for (core::index_t i = 0; i < hw; ++i) {
                const auto k = static_cast<std::size_t>(i);
                out[s * hw + i] = static_cast<float>(set[k] ? std::sqrt(to_unset[k]) : -std::sqrt(to_set[k]));
            }
        }
    });
    return out;
}

}  // namespace imbdef::metrics
