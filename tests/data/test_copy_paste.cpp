// The copy-paste baseline: the defect lands inside the valid region, only under its mask, as the
// real pixels; the draw depends only on the stream; a defect that fits nowhere is reported.
#include <doctest/doctest.h>

#include <imbdef/data/copy_paste.hpp>

using namespace imbdef;

namespace {

struct scene {
    core::tensor<float> background{{2, 12, 16}}, valid{{12, 16}}, defect{{2, 5, 6}}, mask{{5, 6}};
    scene() {
        for (core::index_t i = 0; i < background.numel(); ++i) background[i] = -0.5f;
        // The valid region: the right half of the frame.
        for (core::index_t y = 0; y < 12; ++y)
            for (core::index_t x = 8; x < 16; ++x) valid(y, x) = 1;
        // A 3 x 2 defect inside a 5 x 6 source, values that name their source pixel.
        for (core::index_t k = 0; k < 2; ++k)
            for (core::index_t y = 0; y < 5; ++y)
                for (core::index_t x = 0; x < 6; ++x) defect(k, y, x) = static_cast<float>(100 * k + 10 * y + x);
        for (core::index_t y = 1; y < 4; ++y)
            for (core::index_t x = 2; x < 4; ++x) mask(y, x) = 1;
        mask(1, 2) = 0;  // not a full rectangle: a masked-out corner keeps the background
    }
};

}  // namespace

TEST_CASE("the pasted defect lies inside the valid region, only under its mask, with the real pixels") {
    scene s;
    for (std::uint64_t seed = 0; seed < 20; ++seed) {
        CAPTURE(seed);
        core::tensor<float> image(s.background.shape()), m(s.valid.shape());
        const auto r = data::copy_paste<float>(s.background.cview(), s.valid.cview(), s.defect.cview(), s.mask.cview(),
                                               image.view(), m.view(), core::philox_stream{.seed = seed});
        REQUIRE(r.placed);
        CHECK(r.area == 5);
        core::index_t pasted = 0;
        for (core::index_t y = 0; y < 12; ++y)
            for (core::index_t x = 0; x < 16; ++x) {
                if (m(y, x) == 1) {
                    ++pasted;
                    CHECK(s.valid(y, x) == 1);
                    // A real defect pixel: the two channels name the same source pixel.
                    CHECK(image(1, y, x) - image(0, y, x) == 100);
                    CHECK(image(0, y, x) >= 12);
                } else {
                    CHECK(m(y, x) == 0);
                    CHECK(image(0, y, x) == -0.5f);
                    CHECK(image(1, y, x) == -0.5f);
                }
            }
        CHECK(pasted == 5);
    }
}

TEST_CASE("the result depends only on the stream") {
    scene s;
    core::tensor<float> a(s.background.shape()), am(s.valid.shape()), b(s.background.shape()), bm(s.valid.shape());
    const auto ra = data::copy_paste<float>(s.background.cview(), s.valid.cview(), s.defect.cview(), s.mask.cview(), a.view(),
                                            am.view(), core::philox_stream{.seed = 7, .stream = 3});
    const auto rb = data::copy_paste<float>(s.background.cview(), s.valid.cview(), s.defect.cview(), s.mask.cview(), b.view(),
                                            bm.view(), core::philox_stream{.seed = 7, .stream = 3});
    CHECK(ra.top == rb.top);
    CHECK(ra.left == rb.left);
    CHECK(std::equal(a.begin(), a.end(), b.begin()));
    CHECK(std::equal(am.begin(), am.end(), bm.begin()));
}

TEST_CASE("a defect that fits nowhere is reported, not pasted; bad shapes are named") {
    scene s;
    for (float& v : s.valid) v = 0;
    s.valid(0, 0) = 1;
    core::tensor<float> image(s.background.shape()), m(s.valid.shape());
    const auto r = data::copy_paste<float>(s.background.cview(), s.valid.cview(), s.defect.cview(), s.mask.cview(), image.view(),
                                           m.view(), core::philox_stream{.seed = 1}, {.max_tries = 10});
    CHECK_FALSE(r.placed);
    CHECK(r.tries == 10);
    for (float v : m) CHECK(v == 0);
    for (float v : image) CHECK(v == -0.5f);

    core::tensor<float> empty({5, 6});
    CHECK_THROWS_WITH_AS(data::copy_paste<float>(s.background.cview(), s.valid.cview(), s.defect.cview(), empty.cview(),
                                                 image.view(), m.view(), core::philox_stream{}),
                         doctest::Contains("an empty mask"), imbdef::error);
    core::tensor<float> grey({1, 5, 6});
    CHECK_THROWS_WITH_AS(data::copy_paste<float>(s.background.cview(), s.valid.cview(), grey.cview(), s.mask.cview(),
                                                 image.view(), m.view(), core::philox_stream{}),
                         doctest::Contains("the background's channels"), imbdef::error);
}
