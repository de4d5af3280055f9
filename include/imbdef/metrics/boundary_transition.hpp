#pragma once
// Boundary transition: how the image gradient behaves across the defect mask's boundary, compared
// between a generated set and real defects (METHOD.md, "How we judge the result"). A defect pasted
// onto a background has a step at the mask's edge, a natural one a transition; the profile below
// tells them apart.
//
// Bands. With the exact signed distance of distance_transform.hpp (+ inside the defect, - outside),
// band k in 1..radius holds the defect pixels whose distance to the nearest background pixel rounds
// to k, band -k the background pixels whose distance to the nearest defect pixel rounds to k
// (distances are square roots of integers, so no distance is halfway). Bands -1 and 1 are the two
// pixel rows that meet at the boundary; there is no band 0.
//
// Profile. The gradient magnitude is the normalised Sobel magnitude (ops/sobel.hpp, replicate
// border: a ramp of slope 1 per pixel has magnitude 1) averaged over channels. For each sample, the
// mean magnitude over the pixels of each band; the set's profile is, per band, the mean over the
// samples in which the band is not empty (each sample weighs the same, whatever its mask's area).
//
// Distance. D(g, r) = sum_k |g_k - r_k| / sum_k r_k over the bands present in both profiles: the L1
// distance relative to the real profile's mean level. 0 is a perfect match; 0.5 means the profile
// is off by half the real level on average. The real profile's far field alone would be the
// natural unit, but it is near zero on flat surfaces and would blow the score up there.
//
// Images are [N, C, H, W] (in [-1, 1] by convention), masks [N, 1, H, W], a pixel set when > 0.
// Samples run in parallel, each serially, and are combined in order: the bits do not depend on
// the thread count.

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"
#include "../ops/sobel.hpp"
#include "distance_transform.hpp"
#include "mask_metrics.hpp"

namespace imbdef::metrics {

struct boundary_profile {
    int radius = 0;
    std::vector<double> level;           // 2 * radius bands: -radius .. -1, then 1 .. radius
    std::vector<core::index_t> samples;  // samples in which each band is not empty

    std::size_t index(int band) const {
        IMBDEF_REQUIRE(band != 0 && band >= -radius && band <= radius, "metrics::boundary_profile::index",
                       "a band in [-" + std::to_string(radius) + ", -1] or [1, " + std::to_string(radius) + "]",
                       "band " + std::to_string(band));
        return static_cast<std::size_t>(band < 0 ? band + radius : band + radius - 1);
    }
    double at(int band) const { return level[index(band)]; }
};

inline boundary_profile boundary_transition_profile(core::const_view<float> images, core::const_view<float> masks,
                                                    int radius = 4) {
    constexpr const char* where = "metrics::boundary_transition_profile";
    IMBDEF_REQUIRE(images.rank() == 4, where, "images of shape [N, C, H, W]", "shape " + images.shape().to_string());
    detail::require_mask_for(masks.shape(), images.shape(), where, "masks");
    IMBDEF_REQUIRE(radius >= 1, where, "a radius >= 1", "radius " + std::to_string(radius));
    const core::index_t n = images.size(0), c = images.size(1), hw = images.size(2) * images.size(3);
    const auto bands = static_cast<std::size_t>(2 * radius);

    core::tensor<float> magnitude(images.shape(), core::uninitialized);
    ops::sobel_magnitude<float>(images, magnitude.view());
    const core::tensor<float> distance = signed_distance(masks);

    // Per sample: band sums and counts, then the sample's mean per band.
    std::vector<double> sample_level(static_cast<std::size_t>(n) * bands, 0.0);
    std::vector<core::index_t> sample_count(static_cast<std::size_t>(n) * bands, 0);
    core::parallel_for(0, n, 1, [&](core::index_t lo, core::index_t hi) {
        for (core::index_t s = lo; s < hi; ++s) {
            double* sum = sample_level.data() + static_cast<std::size_t>(s) * bands;
            core::index_t* count = sample_count.data() + static_cast<std::size_t>(s) * bands;
            for (core::index_t i = 0; i < hw; ++i) {
                const double d = distance[s * hw + i];
                const double k = std::round(std::abs(d));
                if (!(k <= radius)) continue;  // also drops the infinite distances of one-sided masks
                const auto b = static_cast<std::size_t>(d < 0 ? radius - static_cast<int>(k) : radius + static_cast<int>(k) - 1);
                double m = 0;
                for (core::index_t ch = 0; ch < c; ++ch) m += magnitude[(s * c + ch) * hw + i];
                sum[b] += m / static_cast<double>(c);
                count[b] += 1;
            }
            for (std::size_t b = 0; b < bands; ++b)
                if (count[b] > 0) sum[b] /= static_cast<double>(count[b]);
        }
    });

    boundary_profile p{.radius = radius, .level = std::vector<double>(bands, 0.0),
                       .samples = std::vector<core::index_t>(bands, 0)};
    for (core::index_t s = 0; s < n; ++s)
        for (std::size_t b = 0; b < bands; ++b)
            if (sample_count[static_cast<std::size_t>(s) * bands + b] > 0) {
                p.level[b] += sample_level[static_cast<std::size_t>(s) * bands + b];
                p.samples[b] += 1;
            }
    for (std::size_t b = 0; b < bands; ++b)
        if (p.samples[b] > 0) p.level[b] /= static_cast<double>(p.samples[b]);
    return p;
}

inline double boundary_transition_distance(const boundary_profile& generated, const boundary_profile& real) {
    constexpr const char* where = "metrics::boundary_transition_distance";
    IMBDEF_REQUIRE(generated.radius == real.radius && generated.level.size() == real.level.size() &&
                       generated.samples.size() == real.samples.size() &&
                       real.level.size() == static_cast<std::size_t>(2 * real.radius),
                   where, "two profiles of one radius", "radii " + std::to_string(generated.radius) + " and " +
                                                           std::to_string(real.radius));
    double diff = 0, scale = 0;
    int used = 0;
    for (std::size_t b = 0; b < real.level.size(); ++b)
        if (generated.samples[b] > 0 && real.samples[b] > 0) {
            diff += std::abs(generated.level[b] - real.level[b]);
            scale += real.level[b];
            ++used;
        }
    IMBDEF_REQUIRE(used > 0 && scale > 0, where, "at least one band present in both profiles with a non-zero real level",
                   std::to_string(used) + " shared bands, real level sum " + std::to_string(scale));
    return diff / scale;
}

// The profiles of both sets and their distance in one call.
inline double boundary_transition(core::const_view<float> generated_images, core::const_view<float> generated_masks,
                                  core::const_view<float> real_images, core::const_view<float> real_masks,
                                  int radius = 4) {
    return boundary_transition_distance(boundary_transition_profile(generated_images, generated_masks, radius),
                                        boundary_transition_profile(real_images, real_masks, radius));
}

}  // namespace imbdef::metrics
