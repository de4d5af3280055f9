// The seam of a composed patch (metrics/seam.hpp): zero when nothing changed at the footprint's
// border, the size of the step when a change is cut off there.

#include <doctest/doctest.h>

#include <algorithm>

#include <imbdef/core/philox.hpp>
#include <imbdef/core/random.hpp>
#include <imbdef/metrics/seam.hpp>

namespace core = imbdef::core;
namespace metrics = imbdef::metrics;

TEST_CASE("seam_step: 0 without a change at the border, the step where a change is cut off") {
    core::tensor<double> before({2, 20, 24}), after({2, 20, 24});
    core::fill_uniform(before.view(), core::philox_stream{.seed = 4, .stream = 4}, 0, -0.5, 0.5);
    std::copy(before.begin(), before.end(), after.begin());
    CHECK(metrics::seam_step<double>(before.cview(), after.cview(), 4, 5, 10) == 0.0);
    // A change well inside the footprint [4, 14) x [5, 15): no border pair is touched.
    for (core::index_t k = 0; k < 2; ++k)
        for (core::index_t y = 8; y < 11; ++y)
            for (core::index_t x = 8; x < 11; ++x) after[(k * 20 + y) * 24 + x] += 0.3;
    CHECK(metrics::seam_step<double>(before.cview(), after.cview(), 4, 5, 10) == 0.0);

    // On a flat image, +0.4 on the footprint's left column, rows 6 .. 9: each changed pair steps by 0.4.
    core::tensor<double> flat({1, 20, 24}), cut({1, 20, 24});
    for (double& v : flat) v = 0.1;
    std::copy(flat.begin(), flat.end(), cut.begin());
    for (core::index_t y = 6; y < 10; ++y) cut[y * 24 + 5] += 0.4;
    CHECK(metrics::seam_step<double>(flat.cview(), cut.cview(), 4, 5, 10) == doctest::Approx(0.4));
    // A change on the image's own left edge, where the footprint starts: the pairs outside are skipped.
    std::copy(flat.begin(), flat.end(), cut.begin());
    for (core::index_t y = 6; y < 10; ++y) cut[y * 24] += 0.4;
    CHECK(metrics::seam_step<double>(flat.cview(), cut.cview(), 4, 0, 10) == 0.0);

    CHECK_THROWS_WITH_AS(metrics::seam_step<double>(flat.cview(), cut.cview(), 15, 5, 10), doctest::Contains("footprint inside"), imbdef::error);
}
