// Composing a generated defect patch into a full-size image (data/compose_patch.hpp): the image is
// untouched beyond the band around the mask, bit for bit; inside the mask the defect's residual is
// carried over; the mask and instance map land at the footprint; bad placements are named.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include <imbdef/core/philox.hpp>
#include <imbdef/core/random.hpp>
#include <imbdef/data/compose_patch.hpp>

namespace data = imbdef::data;
namespace core = imbdef::core;

namespace {

struct patch_fixture {
    core::index_t c = 3, p = 16;
    core::tensor<float> defect{core::shape{3, 16, 16}}, background{core::shape{3, 16, 16}}, mask{core::shape{16, 16}};
    patch_fixture() {
        core::fill_uniform(background.view(), core::philox_stream{.seed = 1, .stream = 1}, 0, -0.8f, 0.8f);
        std::copy(background.begin(), background.end(), defect.begin());
        // A 5 x 6 defect at (6, 5): darker where the mask is, and a little change around it.
        for (core::index_t y = 0; y < p; ++y)
            for (core::index_t x = 0; x < p; ++x) {
                const bool in = y >= 6 && y < 11 && x >= 5 && x < 11;
                mask[y * p + x] = in ? 1.0f : 0.0f;
                for (core::index_t k = 0; k < c; ++k) defect[(k * p + y) * p + x] += in ? -0.5f : 0.01f;
            }
    }
};

// Chebyshev distance from (y, x) to the nearest set pixel of m [h, w] (large when none).
core::index_t distance_to(const core::tensor<float>& m, core::index_t h, core::index_t w, core::index_t y, core::index_t x) {
    core::index_t best = 1 << 20;
    for (core::index_t yy = 0; yy < h; ++yy)
        for (core::index_t xx = 0; xx < w; ++xx)
            if (m[yy * w + xx] > 0.5f) best = std::min(best, std::max(std::abs(yy - y), std::abs(xx - x)));
    return best;
}

}  // namespace

TEST_CASE("beyond the band around the mask the composed image is the input, bit for bit") {
    patch_fixture f;
    for (const double scale : {1.0, 0.5, 0.7}) {
        CAPTURE(scale);
        const core::index_t h = 60, w = 70;
        core::tensor<float> image({3, h, w}), before({3, h, w}), out_mask({h, w});
        core::tensor<std::int32_t> instance({h, w});
        core::fill_uniform(image.view(), core::philox_stream{.seed = 2, .stream = 2}, 0, -1.0f, 1.0f);
        std::copy(image.begin(), image.end(), before.begin());
        const auto r = data::compose_defect_patch<float>(f.defect.cview(), f.background.cview(), f.mask.cview(), scale, 9, 12, 2,
                                                         image.view(), out_mask.view(), instance.view(), 3);
        CHECK(r.size == data::patch_footprint(16, scale));
        CHECK(r.area > 0);
        CHECK(r.band == static_cast<core::index_t>(std::ceil(2.0 / scale)));
        core::index_t changed = 0, set = 0;
        for (core::index_t y = 0; y < h; ++y)
            for (core::index_t x = 0; x < w; ++x) {
                const bool differs = image[y * w + x] != before[y * w + x] || image[(h + y) * w + x] != before[(h + y) * w + x] ||
                                     image[(2 * h + y) * w + x] != before[(2 * h + y) * w + x];
                changed += differs;
                if (out_mask[y * w + x] > 0.5f) {
                    ++set;
                    CHECK(instance[y * w + x] == 3);
                    CHECK(y >= 9);
                    CHECK(x >= 12);
                    CHECK(y < 9 + r.size);
                    CHECK(x < 12 + r.size);
                } else {
                    CHECK(instance[y * w + x] == 0);
                }
                if (differs) CHECK(distance_to(out_mask, h, w, y, x) <= r.band);
            }
        CHECK(set == r.area);
        CHECK(changed >= set);
    }
}

TEST_CASE("at the patch's own scale the defect's residual is carried over exactly inside the mask") {
    patch_fixture f;
    const core::index_t h = 30, w = 30;
    core::tensor<float> image({3, h, w}), out_mask({h, w});
    for (float& v : image) v = 0.25f;
    const auto r = data::compose_defect_patch<float>(f.defect.cview(), f.background.cview(), f.mask.cview(), 1.0, 4, 7, 2, image.view(),
                                                     out_mask.view());
    CHECK(r.size == 16);
    CHECK(r.area == 30);
    // Two pixels inside the mask's edge the weight is 1: image = 0.25 + (defect - background) = 0.25 - 0.5.
    for (core::index_t y = 6 + 2; y < 11 - 2 + 1; ++y)
        for (core::index_t x = 5 + 2; x < 11 - 2; ++x)
            for (core::index_t k = 0; k < 3; ++k) CHECK(image[(k * h + 4 + y) * w + 7 + x] == doctest::Approx(-0.25f));
    // The mask lands where the patch's mask was.
    for (core::index_t y = 0; y < 16; ++y)
        for (core::index_t x = 0; x < 16; ++x) CHECK(out_mask[(4 + y) * w + 7 + x] == f.mask[y * 16 + x]);
}

TEST_CASE("an empty mask changes nothing; a footprint outside the image is named") {
    patch_fixture f;
    for (float& v : f.mask) v = 0;
    core::tensor<float> image({3, 40, 40}), before({3, 40, 40}), out_mask({40, 40});
    core::fill_uniform(image.view(), core::philox_stream{.seed = 3, .stream = 3}, 0, -1.0f, 1.0f);
    std::copy(image.begin(), image.end(), before.begin());
    const auto r = data::compose_defect_patch<float>(f.defect.cview(), f.background.cview(), f.mask.cview(), 1.0, 0, 0, 2, image.view(),
                                                     out_mask.view());
    CHECK(r.area == 0);
    CHECK(std::equal(image.begin(), image.end(), before.begin()));
    CHECK(std::all_of(out_mask.begin(), out_mask.end(), [](float v) { return v == 0; }));
    CHECK_THROWS_WITH_AS(data::compose_defect_patch<float>(f.defect.cview(), f.background.cview(), f.mask.cview(), 0.5, 10, 0, 2,
                                                           image.view(), out_mask.view()),
                         doctest::Contains("footprint of 32 px inside the 40 x 40 image"), imbdef::error);
}
