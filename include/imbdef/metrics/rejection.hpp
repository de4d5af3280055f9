#pragma once
// Rejection of failed samples by measurement (METHOD.md, "Rejection by measurement"; issue 11):
// a generated defect is kept only when its own numbers say it worked, and every rejection is
// counted by reason, never dropped silently.
//
// For one sample and one pass (defect k), with m its binary mask, b the valid region, x the defect
// image and x_bg the paired background:
//   empty_mask        m has fewer than `min_pixels` pixels;
//   area_out_of_range the area fraction |m| / (H W) lies outside the class's range seen in
//                     training, widened by `area_tolerance` (a factor on both ends); skipped when
//                     no range is known;
//   out_of_region     the fraction of m outside b exceeds `max_out_of_region`;
//   misaligned        mask alignment (metrics/mask_metrics.hpp: the share of the mean change
//                     |x - x_bg| that lies inside m) is below `min_alignment`: the mask does not
//                     explain where the image changed.
// The first failing test, in this order, is the reason.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "mask_metrics.hpp"

namespace imbdef::metrics {

enum class rejection_reason : std::uint8_t { none, empty_mask, area_out_of_range, out_of_region, misaligned };
inline constexpr std::array<rejection_reason, 4> rejection_reasons = {
    rejection_reason::empty_mask, rejection_reason::area_out_of_range, rejection_reason::out_of_region,
    rejection_reason::misaligned};

constexpr std::string_view to_string(rejection_reason r) noexcept {
    switch (r) {
        case rejection_reason::none: return "accepted";
        case rejection_reason::empty_mask: return "empty_mask";
        case rejection_reason::area_out_of_range: return "area_out_of_range";
        case rejection_reason::out_of_region: return "out_of_region";
        case rejection_reason::misaligned: return "misaligned";
    }
    return "unknown";
}

struct rejection_thresholds {
    core::index_t min_pixels = 1;
    double area_tolerance = 2.0;        // accept [min / t, max * t] of the training range
    double max_out_of_region = 0.05;
    double min_alignment = 0.6;  // the mean change inside m at least 1.5 times that outside
};

struct sample_measurement {
    core::index_t pixels = 0;
    double area_fraction = 0, out_of_region = 0, alignment = 0;
    rejection_reason reason = rejection_reason::none;
    bool accepted() const noexcept { return reason == rejection_reason::none; }
};

// image, background [C, H, W]; mask, valid [H, W] (> 0.5 set); area_range: the class's training
// range of area fractions, if known.
template <class T>
sample_measurement judge_defect_sample(core::const_view<T> image, core::const_view<T> background, core::const_view<T> mask,
                                       core::const_view<T> valid, std::optional<std::array<double, 2>> area_range,
                                       const rejection_thresholds& t = {}) {
    constexpr const char* where = "metrics::judge_defect_sample";
    IMBDEF_REQUIRE(image.rank() == 3 && background.shape() == image.shape(), where,
                   "image and background of one shape [C, H, W]", image.shape().to_string() + " and " + background.shape().to_string());
    const core::shape plane{image.size(1), image.size(2)};
    IMBDEF_REQUIRE(mask.shape() == plane && valid.shape() == plane, where, "mask and valid region of shape " + plane.to_string(),
                   mask.shape().to_string() + " and " + valid.shape().to_string());
    sample_measurement m;
    const core::index_t hw = plane.numel();
    core::index_t outside = 0;
    for (core::index_t i = 0; i < hw; ++i)
        if (mask[i] > T(0.5)) {
            ++m.pixels;
            outside += valid[i] > T(0.5) ? 0 : 1;
        }
    m.area_fraction = static_cast<double>(m.pixels) / static_cast<double>(hw);
    m.out_of_region = m.pixels ? static_cast<double>(outside) / static_cast<double>(m.pixels) : 0.0;
    // mask_alignment reads [N, C, H, W] images and [N, 1, H, W] masks set where > 0: a batch of one,
    // with the mask shifted so that the 0.5 threshold becomes 0.
    const core::index_t c = image.size(0);
    const core::const_view<T> x(image.data(), core::shape{1, c, plane[0], plane[1]});
    const core::const_view<T> xb(background.data(), core::shape{1, c, plane[0], plane[1]});
    core::tensor<T> shifted(core::shape{1, 1, plane[0], plane[1]});
    for (core::index_t i = 0; i < hw; ++i) shifted[i] = mask[i] - T(0.5);
    m.alignment = m.pixels ? mask_alignment<T>(x, xb, shifted.cview()) : 0.0;

    if (m.pixels < t.min_pixels)
        m.reason = rejection_reason::empty_mask;
    else if (area_range && (m.area_fraction < (*area_range)[0] / t.area_tolerance || m.area_fraction > (*area_range)[1] * t.area_tolerance))
        m.reason = rejection_reason::area_out_of_range;
    else if (m.out_of_region > t.max_out_of_region)
        m.reason = rejection_reason::out_of_region;
    else if (m.alignment < t.min_alignment)
        m.reason = rejection_reason::misaligned;
    return m;
}

// Counts per reason, for manifests and reports.
struct rejection_counts {
    std::array<std::uint64_t, 5> by_reason{};  // indexed by rejection_reason
    void add(rejection_reason r) noexcept { ++by_reason[static_cast<std::size_t>(r)]; }
    std::uint64_t accepted() const noexcept { return by_reason[0]; }
    std::uint64_t rejected() const noexcept { return by_reason[1] + by_reason[2] + by_reason[3] + by_reason[4]; }
    std::uint64_t of(rejection_reason r) const noexcept { return by_reason[static_cast<std::size_t>(r)]; }
};

}  // namespace imbdef::metrics
