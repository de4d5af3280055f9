// Valid-region policies on images with a known answer, and on real parts when the data is there.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <imbdef/core/philox.hpp>
#include <imbdef/data/valid_region.hpp>

namespace fs = std::filesystem;
using namespace imbdef;
using data::mask_u8;

namespace {

// A bright disc (radius r, centre (cy, cx)) on a darker noisy backdrop, with optional dark holes
// on the part and bright specks on the backdrop.
xt::xtensor<float, 3> disc_scene(std::size_t size, double r, bool with_hole, bool specks, bool invert = false) {
    auto im = xt::xtensor<float, 3>::from_shape({size, size, 3});
    const core::philox_stream rng{.seed = 3};
    const double c = static_cast<double>(size) / 2;
    for (std::size_t y = 0; y < size; ++y)
        for (std::size_t x = 0; x < size; ++x) {
            const double d = std::hypot(static_cast<double>(y) + 0.5 - c, static_cast<double>(x) + 0.5 - c);
            const float noise = 0.06f * (rng.uniform(y * size + x) - 0.5f);
            float v = d < r ? 0.75f : 0.2f;
            if (with_hole && std::hypot(static_cast<double>(y) + 0.5 - c, static_cast<double>(x) + 0.5 - c - r / 2) < r / 6)
                v = 0.2f;
            if (specks && d > r + 4 && (y * 131 + x * 71) % 97 == 0) v = 0.8f;
            v += noise;
            if (invert) v = 1.0f - v;
            for (std::size_t k = 0; k < 3; ++k) im(y, x, k) = v;
        }
    return im;
}

double disc_iou(const mask_u8& m, double r) {
    const std::size_t size = m.shape()[0];
    const double c = static_cast<double>(size) / 2;
    double inter = 0, uni = 0;
    for (std::size_t y = 0; y < size; ++y)
        for (std::size_t x = 0; x < size; ++x) {
            const bool truth = std::hypot(static_cast<double>(y) + 0.5 - c, static_cast<double>(x) + 0.5 - c) < r;
            const bool got = m(y, x) != 0;
            inter += truth && got;
            uni += truth || got;
        }
    return inter / uni;
}

}  // namespace

TEST_CASE("otsu_foreground finds a bright part on a dark backdrop, and a dark part on a bright one") {
    const data::otsu_foreground policy;
    for (bool invert : {false, true}) {
        const auto im = disc_scene(96, 30, false, false, invert);
        const mask_u8 m = policy({im});
        CHECK(disc_iou(m, 30) > 0.95);
    }
}

TEST_CASE("otsu_foreground fills holes in the part and drops specks of the backdrop") {
    const auto im = disc_scene(128, 40, true, true);
    const mask_u8 m = data::otsu_foreground{}({im});
    CHECK(disc_iou(m, 40) > 0.95);
    CHECK(m(64, 64 + 20) == 255);  // the hole's centre is filled
    CHECK(m(2, 2) == 0);
}

TEST_CASE("a texture with no part is the full frame, and full_frame is all ones") {
    auto texture = xt::xtensor<float, 3>::from_shape({64, 64, 1});
    const core::philox_stream rng{.seed = 9};
    for (std::size_t i = 0; i < texture.size(); ++i) texture.data()[i] = 0.4f + 0.2f * rng.uniform(i);
    const mask_u8 m = data::otsu_foreground{}({texture});
    CHECK(data::detail::coverage(m) == 1.0);
    CHECK(data::detail::coverage(data::full_frame{}({texture})) == 1.0);
}

TEST_CASE("from_files reads the mask the function names, and checks its size") {
    const fs::path dir = fs::temp_directory_path() / "imbdef-valid-region-test";
    fs::create_directories(dir);
    auto m = xt::xtensor<std::uint8_t, 2>::from_shape({4, 6});
    for (std::size_t i = 0; i < m.size(); ++i) m.data()[i] = i % 3 ? 255 : 0;
    data::write_png_mask(dir / "a_valid.png", m);
    const data::from_files policy{[](const fs::path& image) {
        return image.parent_path() / (image.stem().string() + "_valid.png");
    }};
    const auto im = xt::xtensor<float, 3>::from_shape({4, 6, 1});
    CHECK(policy({im, dir / "a.png"}) == m);
    const auto wrong = xt::xtensor<float, 3>::from_shape({5, 6, 1});
    CHECK_THROWS_WITH_AS(policy({wrong, dir / "a.png"}), doctest::Contains("expected the image's size 6 x 5, found 6 x 4"),
                         imbdef::error);
    CHECK_THROWS_WITH_AS(policy({im, dir / "b.png"}), doctest::Contains("b_valid.png"), imbdef::error);
    fs::remove_all(dir);
}

TEST_CASE("real data: metal plates have a part, magnetic tiles are full frame" * doctest::test_suite("real-data")) {
    const char* env = std::getenv("IMBDEF_DATA_DIR");
    const fs::path root = env ? fs::path(env) : fs::path(IMBDEF_SHARED_DATA_DIR);
    const fs::path plates = root / "mpdd-metal-plate" / "train" / "images";
    if (!fs::exists(plates)) {
        std::printf("no real data at %s: skipped\n", plates.string().c_str());
        return;
    }
    int seen = 0;
    for (const auto& entry : fs::directory_iterator(plates)) {
        if (seen++ >= 6) break;
        const auto im = data::read_image(entry.path());
        const double cover = data::detail::coverage(data::otsu_foreground{}({im.pixels, entry.path()}));
        INFO(entry.path().string() << " coverage " << cover);
        CHECK(cover > 0.05);
        CHECK(cover < 0.95);
    }
}
