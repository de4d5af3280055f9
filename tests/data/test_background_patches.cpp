// Native-scale background patches (data/background_patches.hpp): patches mostly inside the valid
// region, a function of the batches served, seekable, channels as the data, bad files named.

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <imbdef/data/background_patches.hpp>
#include <imbdef/data/image_io.hpp>

#include "../support/temp_dir.hpp"

namespace data = imbdef::data;
namespace core = imbdef::core;
namespace fs = std::filesystem;
using imbdef::test_support::temp_dir;

namespace {

void write_image(const fs::path& p, std::size_t h, std::size_t w, std::size_t c = 1) {
    fs::create_directories(p.parent_path());
    auto im = xt::xtensor<std::uint8_t, 3>::from_shape({h, w, c});
    for (std::size_t y = 0; y < h; ++y)
        for (std::size_t x = 0; x < w; ++x)
            for (std::size_t k = 0; k < c; ++k) im(y, x, k) = static_cast<std::uint8_t>((x * 11 + y * 3 + k * 40) % 256);
    data::write_png(p, im);
}

// A valid region set on the left `cols` columns.
void write_region(const fs::path& p, std::size_t h, std::size_t w, std::size_t cols) {
    fs::create_directories(p.parent_path());
    auto m = xt::xtensor<std::uint8_t, 2>::from_shape({h, w});
    for (std::size_t y = 0; y < h; ++y)
        for (std::size_t x = 0; x < w; ++x) m(y, x) = x < cols ? 255 : 0;
    data::write_png_mask(p, m);
}

data::background_options region_files(const fs::path& regions) {
    data::background_options o;
    o.valid_region = data::from_files{[regions](const fs::path& image) { return regions / image.filename(); }};
    return o;
}

}  // namespace

TEST_CASE("background patches lie mostly in the valid region, and are a function of the batches served") {
    temp_dir dir;
    for (const char* name : {"a.png", "b.png", "c.png"}) {
        write_image(dir / "good" / name, 40, 64);
        write_region(dir / "regions" / name, 40, 64, 24);  // a part on the left 24 columns of 64
    }
    const auto sources = data::background_sources(dir / "good");
    const auto load = [&] { return data::load_scaled_backgrounds(sources, region_files(dir / "regions"), {.size = 16, .scale = 1.0}); };
    auto first = load();
    REQUIRE(first.images.size() == 3);
    CHECK(first.channels == 1);
    CHECK(first.images[0].image.shape() == core::shape{1, 40, 64});
    CHECK(first.images[0].valid_in(0, 0, 16) == 256);
    CHECK(first.images[0].valid_in(0, 48, 16) == 0);
    CHECK(first.images[0].valid_in(5, 16, 16) == 128);

    data::background_patches a(std::move(first), 16, 3, true), b(load(), 16, 3, true);
    core::tensor<float> ia({6, 1, 16, 16}), ma({6, 1, 16, 16}), ib({6, 1, 16, 16}), mb({6, 1, 16, 16});
    std::vector<std::vector<float>> seen;
    for (int k = 0; k < 6; ++k) {
        a.next(ia.view(), ma.view());
        b.next(ib.view(), mb.view());
        CHECK(std::equal(ia.begin(), ia.end(), ib.begin()));
        CHECK(std::equal(ma.begin(), ma.end(), mb.begin()));
        for (core::index_t i = 0; i < 6; ++i) {
            const auto m = ma.view().slice(i);
            // 16 tries at a third of the positions each: a patch under half valid would be a 1-in-10^7 event
            CHECK(2 * std::count(m.begin(), m.end(), 1.0f) >= 256);
        }
        seen.emplace_back(ia.begin(), ia.end());
    }
    CHECK(seen[0] != seen[1]);
    data::background_patches c(load(), 16, 3, true);
    c.seek(4, 6);
    c.next(ia.view(), core::view<float>{});
    CHECK(std::vector<float>(ia.begin(), ia.end()) == seen[4]);
    // A texture: the whole frame is valid, so every mask is all +1.
    data::background_options textures;
    textures.valid_region = data::full_frame{};
    data::background_patches t(data::load_scaled_backgrounds(sources, textures, {.size = 16, .scale = 0.5}), 16, 1, false);
    CHECK(t.set().images[0].image.shape() == core::shape{1, 20, 32});
    t.next(ia.view(), ma.view());
    CHECK(std::all_of(ma.begin(), ma.end(), [](float v) { return v == 1.0f; }));
}

TEST_CASE("background patches: channels follow the data, and images too small at the scale are named or skipped") {
    temp_dir dir;
    write_image(dir / "good/a.png", 40, 40, 1);
    write_image(dir / "good/b.png", 40, 40, 3);
    data::background_options textures;
    textures.valid_region = data::full_frame{};
    const auto set = data::load_scaled_backgrounds(data::background_sources(dir / "good"), textures, {.size = 16, .scale = 1.0});
    CHECK(set.channels == 3);
    REQUIRE(set.images.size() == 2);
    CHECK(set.images[0].image.size(0) == 3);  // the grey one expanded

    write_image(dir / "good/c.png", 12, 40, 1);
    CHECK_THROWS_WITH_AS(data::load_scaled_backgrounds(data::background_sources(dir / "good"), textures, {.size = 16, .scale = 1.0}),
                         doctest::Contains("c.png"), imbdef::error);
    textures.skip_bad_files = true;
    std::vector<std::string> reported;
    textures.on_skip = [&](const data::skipped_file& f) { reported.push_back(f.path.filename().string()); };
    const auto kept = data::load_scaled_backgrounds(data::background_sources(dir / "good"), textures, {.size = 16, .scale = 1.0});
    CHECK(kept.images.size() == 2);
    CHECK(reported == std::vector<std::string>{"c.png"});
    // Scaled up, c.png is large enough.
    CHECK(data::load_scaled_backgrounds(data::background_sources(dir / "good"), textures, {.size = 16, .scale = 2.0}).images.size() == 3);
}
