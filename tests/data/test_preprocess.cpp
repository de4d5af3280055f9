// Preprocessing: known answers for crop, pad, area and bicubic resize, scaling to [-1, 1], channel
// conversion and the valid-region mask geometry, on small PNGs written and read back.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <imbdef/data/image_io.hpp>
#include <imbdef/data/preprocess.hpp>
#include <imbdef/ops/resize.hpp>

#include "../support/temp_dir.hpp"

using imbdef::test_support::temp_dir;

namespace fs = std::filesystem;
using namespace imbdef;
using data::preprocess_options;
using data::square_mode;

namespace {

// Writes `im` and reads it back, so the test goes through the same decoder as real data.
data::image round_trip(const temp_dir& dir, const std::string& name, const xt::xtensor<std::uint8_t, 3>& im) {
    data::write_png(dir.path / name, im);
    return data::read_image(dir.path / name);
}

// Grey h x w with value(y, x) = 10 (y w + x) + 5 (distinct, below 256 for h w <= 25).
xt::xtensor<std::uint8_t, 3> ramp(std::size_t h, std::size_t w) {
    auto im = xt::xtensor<std::uint8_t, 3>::from_shape({h, w, 1});
    for (std::size_t y = 0; y < h; ++y)
        for (std::size_t x = 0; x < w; ++x) im(y, x, 0) = static_cast<std::uint8_t>(10 * (y * w + x) + 5);
    return im;
}

float scaled(double v8) { return static_cast<float>(2.0 * v8 / 255.0 - 1.0); }

}  // namespace

TEST_CASE("centre crop to the shorter side, identity resize, scaled to [-1, 1]") {
    temp_dir dir;
    const auto src = ramp(4, 6);
    const auto im = round_trip(dir, "wide.png", src);
    const auto out = data::preprocess_image(im.pixels, {.resolution = 4}, dir.path / "wide.png");
    REQUIRE(out.shape() == core::shape{1, 4, 4});
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 4; ++x) CHECK(out(0, y, x) == doctest::Approx(scaled(src(y, x + 1, 0))).epsilon(1e-6));

    const auto tall = round_trip(dir, "tall.png", ramp(5, 2));  // odd difference: offset 1 = 3 / 2
    const auto t = data::preprocess_image(tall.pixels, {.resolution = 2});
    for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 2; ++x) CHECK(t(0, y, x) == doctest::Approx(scaled(10 * ((y + 1) * 2 + x) + 5)).epsilon(1e-6));
}

TEST_CASE("pad to the longer side replicates the edge, the odd pixel after") {
    temp_dir dir;
    const auto src = ramp(1, 4);
    const auto im = round_trip(dir, "strip.png", src);
    const auto out = data::preprocess_image(im.pixels, {.resolution = 4, .square = square_mode::pad_edge});
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 4; ++x) CHECK(out(0, y, x) == doctest::Approx(scaled(src(0, x, 0))).epsilon(1e-6));

    // Its mask is 0 in the padding: rows 1 (before) and 2 (after) around the one source row.
    auto mask = xt::xtensor<std::uint8_t, 2>::from_shape({1, 4});
    mask.fill(255);
    const auto m = data::preprocess_mask(mask, {.resolution = 4, .square = square_mode::pad_edge});
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 4; ++x) CHECK(int(m(y, x)) == (y == 1 ? 1 : 0));
}

TEST_CASE("area averaging when shrinking") {
    temp_dir dir;
    const auto src = ramp(4, 4);
    const auto im = round_trip(dir, "sq.png", src);
    const auto out = data::preprocess_image(im.pixels, {.resolution = 2});
    for (int y = 0; y < 2; ++y)
        for (int x = 0; x < 2; ++x) {
            double mean = 0;
            for (int dy = 0; dy < 2; ++dy)
                for (int dx = 0; dx < 2; ++dx) mean += src(2 * y + dy, 2 * x + dx, 0) / 4.0;
            CHECK(out(0, y, x) == doctest::Approx(scaled(mean)).epsilon(1e-6));
        }
    // Non-integer factor 4 -> 3: output 0 covers [0, 4/3): 3/4 of pixel 0 and 1/4 of pixel 1.
    const auto row = round_trip(dir, "row.png", ramp(4, 4));
    const auto o3 = data::preprocess_image(row.pixels, {.resolution = 3});
    const double want = 0.75 * (0.75 * src(0, 0, 0) + 0.25 * src(0, 1, 0)) + 0.25 * (0.75 * src(1, 0, 0) + 0.25 * src(1, 1, 0));
    CHECK(o3(0, 0, 0) == doctest::Approx(scaled(want)).epsilon(1e-5));
}

TEST_CASE("bicubic when enlarging, clamped to [-1, 1]; a flat image stays flat") {
    temp_dir dir;
    auto dot = xt::xtensor<std::uint8_t, 3>::from_shape({4, 4, 1});
    dot.fill(0);
    dot(1, 1, 0) = 255;
    dot(2, 2, 0) = 255;
    const auto im = round_trip(dir, "dot.png", dot);
    const auto out = data::preprocess_image(im.pixels, {.resolution = 16});

    core::tensor<float> x(core::shape{1, 1, 4, 4});
    for (int i = 0; i < 16; ++i) x[i] = 2.0f * im.pixels.data()[i] - 1.0f;
    core::tensor<float> ref(core::shape{1, 1, 16, 16});
    ops::resize<float, core::cpu>(x, ref);
    int clamped = 0;
    for (int i = 0; i < 256; ++i) {
        CHECK(out[i] == std::clamp(ref[i], -1.0f, 1.0f));
        clamped += ref[i] < -1.0f || ref[i] > 1.0f;
    }
    CHECK(clamped > 0);  // Keys' kernel overshoots next to the bright pixels
    CHECK(*std::min_element(out.begin(), out.end()) == -1.0f);

    auto flat = xt::xtensor<std::uint8_t, 3>::from_shape({3, 5, 1});
    flat.fill(51);
    const auto f = data::preprocess_image(round_trip(dir, "flat.png", flat).pixels, {.resolution = 7});
    for (float v : f) CHECK(v == doctest::Approx(scaled(51)).epsilon(1e-6));
}

TEST_CASE("channels: follow the data, grey to RGB, RGB to grey (Rec. 601), alpha dropped") {
    temp_dir dir;
    const auto grey = round_trip(dir, "g.png", ramp(3, 3));
    const auto g1 = data::preprocess_image(grey.pixels, {.resolution = 3});
    const auto g3 = data::preprocess_image(grey.pixels, {.resolution = 3, .channels = 3});
    REQUIRE(g1.shape() == core::shape{1, 3, 3});
    REQUIRE(g3.shape() == core::shape{3, 3, 3});
    for (int k = 0; k < 3; ++k)
        for (int i = 0; i < 9; ++i) CHECK(g3[k * 9 + i] == g1[i]);  // bit for bit

    auto rgb = xt::xtensor<std::uint8_t, 3>::from_shape({2, 2, 3});
    rgb.fill(0);
    rgb(0, 0, 0) = 255;
    rgb(0, 1, 1) = 255;
    rgb(1, 0, 2) = 255;
    rgb(1, 1, 0) = rgb(1, 1, 1) = rgb(1, 1, 2) = 255;
    const auto c = round_trip(dir, "rgb.png", rgb);
    const auto c3 = data::preprocess_image(c.pixels, {.resolution = 2});
    REQUIRE(c3.shape() == core::shape{3, 2, 2});
    CHECK(c3(0, 0, 0) == 1.0f);
    CHECK(c3(1, 0, 0) == -1.0f);
    const auto c1 = data::preprocess_image(c.pixels, {.resolution = 2, .channels = 1});
    REQUIRE(c1.shape() == core::shape{1, 2, 2});
    CHECK(c1(0, 0, 0) == doctest::Approx(2 * 0.299 - 1).epsilon(1e-6));
    CHECK(c1(0, 0, 1) == doctest::Approx(2 * 0.587 - 1).epsilon(1e-6));
    CHECK(c1(0, 1, 0) == doctest::Approx(2 * 0.114 - 1).epsilon(1e-6));
    CHECK(c1(0, 1, 1) == doctest::Approx(1.0).epsilon(1e-6));
    CHECK(c1(0, 1, 1) <= 1.0f);

    // RGBA with alpha 0 is the RGB image; grey + alpha follows as grey, or expands to RGB.
    auto rgba = xt::xtensor<std::uint8_t, 3>::from_shape({2, 2, 4});
    for (std::size_t y = 0; y < 2; ++y)
        for (std::size_t x = 0; x < 2; ++x) {
            for (std::size_t k = 0; k < 3; ++k) rgba(y, x, k) = rgb(y, x, k);
            rgba(y, x, 3) = 0;
        }
    const auto a3 = data::preprocess_image(round_trip(dir, "rgba.png", rgba).pixels, {.resolution = 2});
    REQUIRE(a3.shape() == c3.shape());
    CHECK(std::equal(a3.begin(), a3.end(), c3.begin()));
    auto ga = xt::xtensor<std::uint8_t, 3>::from_shape({2, 2, 2});
    ga.fill(200);
    const auto gai = round_trip(dir, "ga.png", ga);
    CHECK(data::preprocess_image(gai.pixels, {.resolution = 2}).shape() == core::shape{1, 2, 2});
    const auto ga3 = data::preprocess_image(gai.pixels, {.resolution = 2, .channels = 3});
    CHECK(ga3.shape() == core::shape{3, 2, 2});
    CHECK(ga3[11] == doctest::Approx(scaled(200)).epsilon(1e-6));
}

TEST_CASE("mask geometry: crop, area coverage at one half, bicubic up, threshold") {
    auto mask = xt::xtensor<std::uint8_t, 2>::from_shape({4, 6});
    mask.fill(0);
    // Columns 1..4 are the crop. Block (0, 0) of the 2 x 2 result: 2 of 4 set (half: set); block
    // (0, 1): 1 of 4 (not set); block (1, 0): 3 of 4 (set); block (1, 1): 0 (column 0 and 5 are
    // outside the crop and do not count).
    mask(0, 1) = mask(1, 2) = 255;
    mask(0, 3) = 255;
    mask(2, 1) = mask(2, 2) = mask(3, 1) = 200;
    mask(3, 0) = mask(3, 5) = mask(2, 5) = 255;
    mask(3, 4) = 127;  // below 128: not set
    const auto m = data::preprocess_mask(mask, {.resolution = 2});
    REQUIRE(m.shape() == core::shape{2, 2});
    CHECK(int(m(0, 0)) == 1);
    CHECK(int(m(0, 1)) == 0);
    CHECK(int(m(1, 0)) == 1);
    CHECK(int(m(1, 1)) == 0);

    auto left = xt::xtensor<std::uint8_t, 2>::from_shape({2, 2});
    left.fill(0);
    left(0, 0) = left(1, 0) = 255;
    const auto up = data::preprocess_mask(left, {.resolution = 4});
    for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 4; ++x) CHECK(int(up(y, x)) == (x < 2 ? 1 : 0));
}

TEST_CASE("bad options and shapes are errors naming the file and the problem") {
    const auto px = xt::xtensor<float, 3>::from_shape({4, 4, 1});
    const fs::path file = "/data/some/tile.png";
    CHECK_THROWS_WITH_AS(data::preprocess_image(px, {.resolution = 0}, file),
                         doctest::Contains("preprocess /data/some/tile.png: expected a resolution in [1, 16384], found resolution 0"),
                         imbdef::error);
    CHECK_THROWS_WITH_AS(data::preprocess_image(px, {.resolution = 8, .channels = 2}, file),
                         doctest::Contains("found channels 2"), imbdef::error);
    core::tensor<float> wrong(core::shape{3, 8, 8});
    CHECK_THROWS_WITH_AS(data::preprocess_image(px, {.resolution = 8}, wrong.view(), file),
                         doctest::Contains("tile.png: expected an output of shape [1, 8, 8], found [3, 8, 8]"), imbdef::error);
    const auto empty = xt::xtensor<float, 3>::from_shape({0, 4, 1});
    CHECK_THROWS_WITH_AS(data::preprocess_image(empty, {.resolution = 8}, file), doctest::Contains("a non-empty image"),
                         imbdef::error);
    const auto five = xt::xtensor<float, 3>::from_shape({4, 4, 5});
    CHECK_THROWS_WITH_AS(data::preprocess_image(five, {.resolution = 8}, file), doctest::Contains("1 to 4 channels"),
                         imbdef::error);
    core::tensor<std::uint8_t> mwrong(core::shape{1, 8, 8});
    CHECK_THROWS_WITH_AS(data::preprocess_mask(xt::xtensor<std::uint8_t, 2>::from_shape({4, 4}), {.resolution = 8},
                                               mwrong.view(), file),
                         doctest::Contains("(valid-region mask): expected an output of shape [8, 8]"), imbdef::error);
}
