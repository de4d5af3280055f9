// Rejection by measurement: each reason on a hand-made sample, in its order, and the counts.
#include <doctest/doctest.h>

#include <imbdef/metrics/rejection.hpp>

using namespace imbdef;

namespace {

struct sample {
    core::tensor<float> image{{1, 8, 8}}, background{{1, 8, 8}}, mask{{8, 8}}, valid{{8, 8}};
    sample() {
        for (float& v : valid) v = 1;
        // A 2 x 2 defect at (2..3, 2..3) that changes the image there only.
        for (core::index_t y = 2; y < 4; ++y)
            for (core::index_t x = 2; x < 4; ++x) {
                mask(y, x) = 1;
                image(0, y, x) = 0.8f;
            }
        for (core::index_t i = 0; i < image.numel(); ++i) image[i] += 0.01f * static_cast<float>(i % 3);  // a little change everywhere
        for (core::index_t i = 0; i < background.numel(); ++i) background[i] = 0.01f * static_cast<float>(i % 3);
    }
    metrics::sample_measurement judge(std::optional<std::array<double, 2>> range = std::nullopt, metrics::rejection_thresholds t = {}) const {
        return metrics::judge_defect_sample<float>(image.cview(), background.cview(), mask.cview(), valid.cview(), range, t);
    }
};

}  // namespace

TEST_CASE("a good sample is accepted with its measurements") {
    const sample s;
    const auto m = s.judge(std::array<double, 2>{0.05, 0.1});
    CHECK(m.accepted());
    CHECK(m.pixels == 4);
    CHECK(m.area_fraction == doctest::Approx(4.0 / 64));
    CHECK(m.out_of_region == 0);
    CHECK(m.alignment > 0.9);
}

TEST_CASE("each reason, in order") {
    sample s;
    CHECK(s.judge(std::array<double, 2>{0.3, 0.5}).reason == metrics::rejection_reason::area_out_of_range);
    CHECK(s.judge(std::array<double, 2>{0.001, 0.02}).reason == metrics::rejection_reason::area_out_of_range);
    CHECK(s.judge(std::array<double, 2>{0.001, 0.04}).accepted());  // within the tolerance factor 2
    s.valid(2, 2) = 0;
    const auto off = s.judge();
    CHECK(off.reason == metrics::rejection_reason::out_of_region);
    CHECK(off.out_of_region == doctest::Approx(0.25));
    s.valid(2, 2) = 1;
    // The image changes as much outside the mask as inside: misaligned.
    for (core::index_t i = 0; i < s.image.numel(); ++i) s.image[i] = s.background[i] + 0.8f;
    CHECK(s.judge().reason == metrics::rejection_reason::misaligned);
    for (float& v : s.mask) v = 0;
    CHECK(s.judge().reason == metrics::rejection_reason::empty_mask);

    metrics::rejection_counts counts;
    counts.add(metrics::rejection_reason::none);
    counts.add(metrics::rejection_reason::misaligned);
    counts.add(metrics::rejection_reason::misaligned);
    CHECK(counts.accepted() == 1);
    CHECK(counts.rejected() == 2);
    CHECK(counts.of(metrics::rejection_reason::misaligned) == 2);
    CHECK(metrics::to_string(metrics::rejection_reason::out_of_region) == "out_of_region");
}

TEST_CASE("shapes that do not match are named") {
    const sample s;
    core::tensor<float> small({4, 4});
    CHECK_THROWS_WITH_AS(metrics::judge_defect_sample<float>(s.image.cview(), s.background.cview(), small.cview(), s.valid.cview(), std::nullopt),
                         doctest::Contains("mask and valid region of shape [8, 8]"), imbdef::error);
}
