// Native-scale defect patches (data/defect_patches.hpp): where a patch goes, the images at patch
// scale, and the batch source's determinism, seeking and content.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <imbdef/data/defect_patches.hpp>
#include <imbdef/data/image_io.hpp>

#include "../support/temp_dir.hpp"

namespace data = imbdef::data;
namespace core = imbdef::core;
namespace fs = std::filesystem;
using imbdef::test_support::temp_dir;

namespace {

// A scaled defect of h x w with the mask set on [y0, y1) x [x0, x1).
data::scaled_defect synthetic_defect(core::index_t h, core::index_t w, data::pixel_box b, int cls = 0) {
    data::scaled_defect d;
    d.image = core::tensor<float>(core::shape{1, h, w});
    d.mask = core::tensor<std::uint8_t>(core::shape{h, w});
    for (core::index_t q = 0; q < h * w; ++q) {
        d.image[q] = static_cast<float>(q) / static_cast<float>(h * w);  // every pixel its own value
        const core::index_t y = q / w, x = q % w;
        d.mask[q] = (y >= b.y0 && y < b.y1 && x >= b.x0 && x < b.x1) ? 1 : 0;
    }
    d.box = b;
    d.defect_pixels = b.height() * b.width();
    d.class_index = cls;
    return d;
}

core::index_t defect_pixels_in(const data::scaled_defect& d, std::array<core::index_t, 2> o, core::index_t p) {
    core::index_t n = 0;
    for (core::index_t y = o[0]; y < o[0] + p; ++y)
        for (core::index_t x = o[1]; x < o[1] + p; ++x) n += d.mask[y * d.mask.size(1) + x];
    return n;
}

// A grey h x w PNG with a gradient and its mask set on a rows x cols block at (y0, x0).
void write_defect(const fs::path& image, const fs::path& mask, std::size_t h, std::size_t w, std::size_t y0, std::size_t x0,
                  std::size_t rows, std::size_t cols) {
    fs::create_directories(image.parent_path());
    fs::create_directories(mask.parent_path());
    auto im = xt::xtensor<std::uint8_t, 3>::from_shape({h, w, 1});
    auto m = xt::xtensor<std::uint8_t, 2>::from_shape({h, w});
    for (std::size_t y = 0; y < h; ++y)
        for (std::size_t x = 0; x < w; ++x) {
            im(y, x, 0) = static_cast<std::uint8_t>((x * 7 + y * 3) % 256);
            m(y, x) = (y >= y0 && y < y0 + rows && x >= x0 && x < x0 + cols) ? 255 : 0;
        }
    data::write_png(image, im);
    data::write_png_mask(mask, m);
}

}  // namespace

TEST_CASE("a defect that fits lies wholly inside its patch, at every offset the image allows") {
    const auto d = synthetic_defect(40, 50, {.x0 = 20, .y0 = 10, .x1 = 27, .y1 = 14});
    const core::index_t p = 16;
    std::set<core::index_t> ys, xs;
    for (int i = 0; i < 400; ++i) {
        const float u = (static_cast<float>(i) + 0.5f) / 400.0f;
        const auto o = data::patch_origin(d, p, {u, 1.0f - u, 0.5f, 0.5f});
        CHECK(o[0] <= 10);
        CHECK(o[0] + p >= 14);
        CHECK(o[1] <= 20);
        CHECK(o[1] + p >= 27);
        ys.insert(o[0]);
        xs.insert(o[1]);
        CHECK(defect_pixels_in(d, o, p) == d.defect_pixels);
    }
    // Every allowed start is drawn: rows 0 .. 10 (14 - 16 < 0), columns 11 .. 20.
    CHECK(ys.size() == 11);
    CHECK(*ys.begin() == 0);
    CHECK(*ys.rbegin() == 10);
    CHECK(xs.size() == 10);
    CHECK(*xs.begin() == 11);
    CHECK(*xs.rbegin() == 20);
    // Near the border the patch is clamped inside the image.
    const auto corner = synthetic_defect(20, 20, {.x0 = 17, .y0 = 17, .x1 = 20, .y1 = 20});
    const auto o = data::patch_origin(corner, 16, {0.0f, 0.0f, 0.0f, 0.0f});
    CHECK(o == std::array<core::index_t, 2>{4, 4});
}

TEST_CASE("a defect larger than the patch is cut into patches that each hold some of it") {
    // An L-shaped defect whose bounding box is far larger than the patch: boxes alone would miss it.
    auto d = synthetic_defect(64, 64, {.x0 = 0, .y0 = 0, .x1 = 64, .y1 = 64});
    for (core::index_t q = 0; q < 64 * 64; ++q) d.mask[q] = (q / 64 == 60 || q % 64 == 3) ? 1 : 0;
    d.defect_pixels = 0;
    for (core::index_t q = 0; q < 64 * 64; ++q) d.defect_pixels += d.mask[q];
    for (int i = 0; i < 300; ++i) {
        const float a = static_cast<float>((i * 37) % 300) / 300.0f, b = static_cast<float>((i * 91) % 300) / 300.0f;
        const auto o = data::patch_origin(d, 12, {a, b, static_cast<float>(i) / 300.0f, 1.0f - a});
        CHECK(o[0] >= 0);
        CHECK(o[0] + 12 <= 64);
        CHECK(o[1] >= 0);
        CHECK(o[1] + 12 <= 64);
        CHECK(defect_pixels_in(d, o, 12) > 0);
    }
    std::vector<data::scaled_defect> two;
    two.push_back(std::move(d));
    two.push_back(synthetic_defect(64, 64, {.x0 = 1, .y0 = 1, .x1 = 5, .y1 = 5}, 1));
    CHECK(data::defects_larger_than_patch(two, 12, 2) == std::vector<std::size_t>{1, 0});
}

TEST_CASE("preprocess_scaled keeps the whole image at its own scale, or resamples it by the factor") {
    auto px = xt::xtensor<float, 3>::from_shape({6, 10, 1});
    for (std::size_t i = 0; i < px.size(); ++i) px.data()[i] = static_cast<float>(i % 7) / 7.0f;
    const auto same = data::preprocess_scaled(px, 0, 1.0);
    REQUIRE(same.shape() == core::shape{1, 6, 10});
    for (std::size_t i = 0; i < px.size(); ++i) CHECK(same[static_cast<core::index_t>(i)] == doctest::Approx(2.0f * px.data()[i] - 1.0f));
    const auto half = data::preprocess_scaled(px, 3, 0.5);
    CHECK(half.shape() == core::shape{3, 3, 5});
    auto m = xt::xtensor<std::uint8_t, 2>::from_shape({6, 10});
    for (std::size_t y = 0; y < 6; ++y)
        for (std::size_t x = 0; x < 10; ++x) m(y, x) = x < 4 ? 255 : 0;
    const auto mh = data::preprocess_mask_scaled(m, 0.5);
    REQUIRE(mh.shape() == core::shape{3, 5});
    for (core::index_t y = 0; y < 3; ++y)
        for (core::index_t x = 0; x < 5; ++x) CHECK(mh[y * 5 + x] == (x < 2 ? 1 : 0));
    CHECK_THROWS_WITH_AS(data::preprocess_scaled(px, 0, 0.0), doctest::Contains("scale"), imbdef::error);
}

TEST_CASE("defect_patches: a function of the batches served, seekable, each patch the image's own pixels with its defect") {
    temp_dir tmp;
    const fs::path dir = tmp / "defects";
    // Image + mask folders, one class: three 40 x 48 defect images, one 20 x 48 (too small at scale 1 for 24-px patches).
    write_defect(dir / "images/a.png", dir / "masks/a.png", 40, 48, 5, 30, 4, 6);
    write_defect(dir / "images/b.png", dir / "masks/b.png", 40, 48, 20, 2, 10, 3);
    write_defect(dir / "images/c.png", dir / "masks/c.png", 40, 48, 0, 0, 40, 48);  // the whole image: larger than a patch
    data::defect_set_options so;
    so.preprocess.resolution = 24;
    const auto set = data::open_defect_set(dir, so);
    REQUIRE(set.samples.size() == 3);
    const std::vector<std::size_t> all{0, 1, 2};
    const auto load = [&] { return data::load_scaled_defects(set, all, {.size = 24, .scale = 1.0}); };
    const auto scaled = load();
    REQUIRE(scaled[0].image.shape() == core::shape{1, 40, 48});
    CHECK(scaled[0].box.y0 == 5);
    CHECK(scaled[0].box.x1 == 36);
    CHECK(scaled[0].defect_pixels == 24);
    CHECK(data::defects_larger_than_patch(scaled, 24, 1) == std::vector<std::size_t>{1});

    data::defect_patches a(load(), 24, 7, true), b(load(), 24, 7, true);
    core::tensor<float> ia({4, 1, 24, 24}), ma({4, 1, 24, 24}), ib({4, 1, 24, 24}), mb({4, 1, 24, 24});
    std::vector<int> ca(4), cb(4);
    std::vector<std::vector<float>> batches;
    for (int k = 0; k < 5; ++k) {
        a.next(ia.view(), ma.view(), ca);
        b.next(ib.view(), mb.view(), cb);
        CHECK(std::equal(ia.begin(), ia.end(), ib.begin()));
        CHECK(std::equal(ma.begin(), ma.end(), mb.begin()));
        batches.emplace_back(ia.begin(), ia.end());
        for (core::index_t i = 0; i < 4; ++i) {
            const auto m = ma.view().slice(i);
            CHECK(std::count(m.begin(), m.end(), 1.0f) > 0);  // every patch holds defect pixels
            CHECK(std::all_of(m.begin(), m.end(), [](float v) { return v == 1.0f || v == -1.0f; }));
        }
    }
    // Patches move: the 5 batches are not all the same crops.
    CHECK(batches[0] != batches[3]);
    // Seeking to batch 3 gives batch 3.
    data::defect_patches c(load(), 24, 7, true);
    c.seek(3, 4);
    c.next(ia.view(), ma.view(), ca);
    CHECK(std::vector<float>(ia.begin(), ia.end()) == batches[3]);
    // Without flips, a patch is a window of the scaled image: its first row is contiguous there.
    data::defect_patches plain(load(), 24, 11, false);
    plain.next(ia.view(), ma.view(), ca);
    for (core::index_t i = 0; i < 4; ++i) {
        bool found = false;
        for (const auto& d : scaled) {
            const core::index_t h = d.image.size(1), w = d.image.size(2);
            for (core::index_t y = 0; y + 24 <= h && !found; ++y)
                for (core::index_t x = 0; x + 24 <= w && !found; ++x) {
                    bool same = true;
                    for (core::index_t yy = 0; yy < 24 && same; ++yy)
                        for (core::index_t xx = 0; xx < 24 && same; ++xx)
                            same = ia[i * 576 + yy * 24 + xx] == d.image[(y + yy) * w + x + xx] &&
                                   (ma[i * 576 + yy * 24 + xx] > 0) == (d.mask[(y + yy) * w + x + xx] != 0);
                    found = same;
                }
        }
        CHECK(found);
    }

    // Too small at this scale: named.
    write_defect(dir / "images/d.png", dir / "masks/d.png", 20, 48, 2, 2, 3, 3);
    const auto bigger = data::open_defect_set(dir, so);
    CHECK_THROWS_WITH_AS(data::load_scaled_defects(bigger, {0, 1, 2, 3}, {.size = 24, .scale = 1.0}), doctest::Contains("d.png"), imbdef::error);
    // A defect that vanishes when scaled down: named.
    CHECK_THROWS_WITH_AS(data::load_scaled_defects(set, {0}, {.size = 8, .scale = 0.1}), doctest::Contains("patch side"), imbdef::error);
}
