// The sliced Wasserstein distance separates distributions it should and not those it should not.
#include <doctest/doctest.h>

#include <cmath>

#include <imbdef/core/random.hpp>
#include <imbdef/metrics/swd.hpp>

using namespace imbdef;

namespace {
// Smooth random blobs (sum of a few Gaussians), or stripes, per image: two distinct "textures".
core::tensor<float> images(std::uint64_t seed, bool stripes, core::index_t n = 16, core::index_t size = 32) {
    core::tensor<float> x({n, 1, size, size});
    const core::philox_stream rng{.seed = seed};
    for (core::index_t i = 0; i < n; ++i) {
        const float phase = 6.28f * rng.uniform(static_cast<std::uint64_t>(4 * i));
        const float cx = static_cast<float>(size) * rng.uniform(static_cast<std::uint64_t>(4 * i + 1));
        const float cy = static_cast<float>(size) * rng.uniform(static_cast<std::uint64_t>(4 * i + 2));
        for (core::index_t y = 0; y < size; ++y)
            for (core::index_t xx = 0; xx < size; ++xx) {
                const float fx = static_cast<float>(xx), fy = static_cast<float>(y);
                x(i, 0, y, xx) = stripes ? std::sin(0.9f * fx + phase)
                                         : std::exp(-((fx - cx) * (fx - cx) + (fy - cy) * (fy - cy)) / 60.0f) * 2 - 1;
            }
    }
    return x;
}
}  // namespace

TEST_CASE("SWD: small between two samples of one distribution, large across distributions") {
    metrics::swd_options o;
    o.directions = 128;
    o.repeats = 2;
    o.patches_per_image = 64;
    const auto a = images(1, false), b = images(2, false), s = images(3, true);
    const auto same = metrics::sliced_wasserstein_distance(a.cview(), b.cview(), o);
    const auto diff = metrics::sliced_wasserstein_distance(a.cview(), s.cview(), o);
    REQUIRE(same.per_level.size() == 2);  // 32 -> 16
    CHECK(diff.mean > 3 * same.mean);
    const auto again = metrics::sliced_wasserstein_distance(a.cview(), b.cview(), o);
    CHECK(again.mean == same.mean);  // deterministic
    const auto self = metrics::sliced_wasserstein_distance(a.cview(), a.cview(), o);
    CHECK(self.mean < diff.mean / 3);
}

TEST_CASE("SWD: mismatched sets are refused with both shapes") {
    const auto a = images(1, false, 4, 32), b = images(1, false, 4, 16);
    CHECK_THROWS_WITH_AS(metrics::sliced_wasserstein_distance(a.cview(), b.cview()),
                         doctest::Contains("[4, 1, 32, 32] and [4, 1, 16, 16]"), imbdef::error);
}
