// Defect sets on the shared real data (../shared/data, or IMBDEF_DATA_DIR), when it is there:
// doctest suite "real-data", run by the test_data_defect_set_real entry and skipped without data.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <imbdef/data/defect_patches.hpp>
#include <imbdef/data/defect_set.hpp>

namespace fs = std::filesystem;
using namespace imbdef;

namespace {

// The shared data folder, or an empty path after printing the skip line ctest looks for.
fs::path real_data(const char* dataset) {
    const char* env = std::getenv("IMBDEF_DATA_DIR");
    const fs::path root = env ? fs::path(env) : fs::path(IMBDEF_SHARED_DATA_DIR);
    if (!fs::exists(root / dataset)) {
        std::printf("no real data at %s: skipped\n", root.string().c_str());
        return {};
    }
    return root / dataset;
}

std::size_t ceil_third(std::size_t n) { return std::max<std::size_t>(1, (n + 2) / 3); }

}  // namespace

// At 128 with the edge padded: these are region-of-interest crops, mostly portrait, and a centre
// crop would cut 73 defects away; at 64 some thin cracks cover under half a pixel.
TEST_CASE("real data: magnetic-tile defects at 128, the empty Uneven masks reported and skipped" *
          doctest::test_suite("real-data")) {
    const fs::path root = real_data("magnetic-tile");
    if (root.empty()) return;
    data::defect_set_options o;
    o.preprocess = {.resolution = 128, .channels = 1, .square = data::square_mode::pad_edge};
    // Strict: the few empty Uneven masks stop it, naming the file.
    CHECK_THROWS_WITH_AS(data::open_defect_set(root, o), doctest::Contains("MT_Uneven"), imbdef::error);

    o.skip_bad_files = true;
    const auto set = data::open_defect_set(root, o);
    CHECK(set.layout == data::layout_kind::magnetic_tile);
    CHECK(set.class_names == std::vector<std::string>{"Blowhole", "Break", "Crack", "Uneven"});
    const auto counts = set.counts();
    REQUIRE(counts.size() == 4);
    CHECK(counts[0] + counts[1] + counts[2] + counts[3] + set.skipped.size() == 80 + 59 + 40 + 72);
    CHECK(counts[0] == 80);
    CHECK(counts[1] == 59);
    CHECK(counts[2] == 40);
    CHECK(counts[3] + set.skipped.size() == 72);
    std::size_t all_zero = 0;
    for (const auto& s : set.skipped) {
        CHECK(s.path.string().find("MT_Uneven") != std::string::npos);
        const bool empty = s.reason.find("found an all-zero mask") != std::string::npos;
        CHECK((empty || s.reason.find("at resolution 128") != std::string::npos));
        all_zero += empty;
    }
    CHECK(all_zero >= 1);
    const auto split = data::split_defects(set, data::split_protocol::one_third);
    std::size_t want_train = 0;
    for (const auto c : counts) want_train += ceil_third(c);
    CHECK(split.train.size() == want_train);
    CHECK(split.train.size() + split.held_out.size() == set.samples.size());
    std::printf("%s", data::counts_table(set, &split).c_str());

    const auto ranges = data::class_area_ranges(set, split.train);
    for (std::size_t k = 0; k < ranges.size(); ++k) {
        std::printf("%s: defect area %.4f .. %.4f of the frame at 128\n", set.class_names[k].c_str(), ranges[k].min,
                    ranges[k].max);
        CHECK(ranges[k].min > 0);
        CHECK(ranges[k].min <= ranges[k].max);
        CHECK(ranges[k].max <= 1);
    }
    CHECK(ranges[0].max < ranges[3].max);  // blowholes are small, uneven surfaces large

    const auto t = data::load_defect_tensors(set, split.train);
    CHECK(t.images.shape() == core::shape{static_cast<core::index_t>(want_train), 1, 128, 128});
    std::size_t not_binary = 0;
    for (float m : t.masks) not_binary += m != 1.0f && m != -1.0f;
    CHECK(not_binary == 0);
}

TEST_CASE("real data: mpdd-metal-plate defects, one class, defect-free plates left out" * doctest::test_suite("real-data")) {
    const fs::path root = real_data("mpdd-metal-plate");
    if (root.empty()) return;
    data::defect_set_options o;
    o.preprocess = {.resolution = 64};
    const auto set = data::open_defect_set(root, o);
    CHECK(set.layout == data::layout_kind::image_mask_folders);
    CHECK(set.class_names == std::vector<std::string>{"mpdd-metal-plate"});
    CHECK(set.samples.size() == 81);
    CHECK(set.defect_free.size() == 80);
    CHECK(set.skipped.empty());
    CHECK(set.preprocess.channels == 3);
    const auto split = data::split_defects(set, data::split_protocol::one_third);
    CHECK(split.train.size() == 27);
    CHECK(split.held_out.size() == 54);
    std::printf("%s", data::counts_table(set, &split).c_str());
    const auto t = data::load_defect_tensors(set, {0, 1, 2});
    CHECK(t.images.shape() == core::shape{3, 3, 64, 64});
    for (float v : t.images) CHECK((v >= -1.0f && v <= 1.0f));
}

// Native-scale patches (data/defect_patches.hpp) at the scale a 256-px detector sees the tiles:
// blowholes that vanish in a 64-px whole image keep several pixels, every patch holds defect
// pixels, and the large Uneven areas are counted as larger than a patch.
TEST_CASE("real data: magnetic-tile defects as native-scale 64-px patches at scale 0.7" * doctest::test_suite("real-data")) {
    const fs::path root = real_data("magnetic-tile");
    if (root.empty()) return;
    data::defect_set_options o;
    o.preprocess = {.resolution = 64, .channels = 1, .square = data::square_mode::center_crop};
    o.patch = data::patch_options{.size = 64, .scale = 0.7};
    o.skip_bad_files = true;
    const auto set = data::open_defect_set(root, o);
    const auto counts = set.counts();
    REQUIRE(counts.size() == 4);
    CHECK(counts[0] == 80);  // every blowhole keeps a pixel at 0.7, where 64-px whole images lose some
    for (const auto& s : set.skipped) {  // only Uneven: its empty masks, and two specks under half a pixel at 0.7
        CAPTURE(s.reason);
        CHECK(s.path.string().find("MT_Uneven") != std::string::npos);
        CHECK((s.reason.find("all-zero mask") != std::string::npos || s.reason.find("at scale 0.7") != std::string::npos));
    }
    const auto split = data::split_defects(set, data::split_protocol::one_third);
    auto scaled = data::load_scaled_defects(set, split.train, *o.patch);
    const auto large = data::defects_larger_than_patch(scaled, 64, 4);
    CHECK(large[0] == 0);  // blowholes fit
    CHECK(large[3] > 0);   // some Uneven areas do not
    data::defect_patches patches(std::move(scaled), 64, 1, true);
    core::tensor<float> images({8, 1, 64, 64}), masks({8, 1, 64, 64});
    std::vector<int> classes(8);
    for (int b = 0; b < 20; ++b) {
        patches.next(images.view(), masks.view(), classes);
        for (core::index_t i = 0; i < 8; ++i) {
            const auto m = masks.view().slice(i);
            CHECK(std::count(m.begin(), m.end(), 1.0f) > 0);
        }
    }
}
