// The built-in synthetic dataset: determinism and independence of samples, the mask contracts
// (non-empty exactly for defective samples, inside the valid region, lined up with the pixels the
// defect changed), the valid region as the part's true silhouette, the MVTec AD files on disk
// and clear errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

#include <imbdef/data/layouts.hpp>
#include <imbdef/data/synthetic.hpp>

#include "../support/temp_dir.hpp"

using imbdef::test_support::temp_dir;

using namespace imbdef;
using namespace imbdef::data;
namespace fs = std::filesystem;

namespace {

synthetic_config small_config(std::vector<scene_kind> scenes, int resolution = 64) {
    synthetic_config c;
    c.seed = 7;
    c.resolution = resolution;
    c.good_count = 6;
    c.test_good_count = 2;
    c.defect_count = 10;
    c.scenes = std::move(scenes);
    return c;
}

synthetic_config every_scene(int resolution = 64) {
    return small_config({all_scene_kinds.begin(), all_scene_kinds.end()}, resolution);
}

bool same_sample(const synthetic_sample& a, const synthetic_sample& b) {
    return a.image == b.image && a.defect_mask == b.defect_mask && a.valid_region == b.valid_region &&
           a.labels.defects == b.labels.defects && a.labels.scene == b.labels.scene;
}

std::size_t count_set(const xt::xtensor<std::uint8_t, 2>& m) {
    return static_cast<std::size_t>(std::count(m.begin(), m.end(), std::uint8_t{255}));
}

// A fresh, empty folder under the system temp directory, removed at scope exit.
}  // namespace

TEST_CASE("a sample is a pure function of (config, index): same bytes, different seeds differ") {
    const synthetic_config cfg = every_scene();
    for (core::index_t i : {core::index_t{0}, core::index_t{3}, core::index_t{9}, core::index_t{15}}) {
        const synthetic_sample a = generate_sample(cfg, i);
        const synthetic_sample b = generate_sample(cfg, i);
        CHECK(same_sample(a, b));
        synthetic_config other = cfg;
        other.seed = cfg.seed + 1;
        CHECK(generate_sample(other, i).image != a.image);
    }
    // Neighbouring indices are different images.
    CHECK(generate_sample(cfg, 0).image != generate_sample(cfg, 6).image);
}

TEST_CASE("sample i does not depend on the other samples generated nor on the thread count") {
    const synthetic_config cfg = every_scene();
    std::vector<synthetic_sample> alone;
    for (core::index_t i = 0; i < cfg.size(); ++i) alone.push_back(generate_sample(cfg, i));
    for (int threads : {1, 2, 3}) {
        core::set_num_threads(threads);
        const auto all = generate_samples(cfg, 0, cfg.size());
        const auto tail = generate_samples(cfg, 5, cfg.size() - 5);
        for (core::index_t i = 0; i < cfg.size(); ++i) CHECK(same_sample(all[static_cast<std::size_t>(i)], alone[static_cast<std::size_t>(i)]));
        for (core::index_t i = 5; i < cfg.size(); ++i) CHECK(same_sample(tail[static_cast<std::size_t>(i - 5)], alone[static_cast<std::size_t>(i)]));
    }
    // The defective samples do not move when the good count changes.
    synthetic_config more_good = cfg;
    more_good.good_count = cfg.good_count + 5;
    const core::index_t first_bad = cfg.good_count + cfg.test_good_count;
    CHECK(same_sample(generate_sample(more_good, first_bad + 5), alone[static_cast<std::size_t>(first_bad)]));
}

TEST_CASE("defect masks are non-empty exactly for defective samples and lie inside the valid region") {
    for (int resolution : {32, 64, 128}) {
        synthetic_config cfg = every_scene(resolution);
        cfg.defect_count = 36;
        cfg.max_defects_per_image = 3;
        for (core::index_t i = 0; i < cfg.size(); ++i) {
            const synthetic_sample s = generate_sample(cfg, i);
            CAPTURE(resolution);
            CAPTURE(i);
            CAPTURE(s.labels.scene);
            REQUIRE(s.image.shape()[0] == static_cast<std::size_t>(resolution));
            REQUIRE(s.image.shape()[2] == 3u);
            const bool defective = s.slot.split == synthetic_split::test_defective;
            CHECK(s.labels.is_defective == defective);
            if (!defective) {
                CHECK(count_set(s.defect_mask) == 0);
                CHECK(s.defects.empty());
                CHECK(s.labels.defect_type == "good");
                continue;
            }
            CHECK(count_set(s.defect_mask) > 0);
            CHECK(!s.defects.empty());
            CHECK(s.defects.size() <= 3u);
            CHECK(s.defects.size() == s.labels.defects.size());
            for (const synthetic_defect& d : s.defects) CHECK(d.pixels > 0);
            std::size_t outside = 0;
            for (std::size_t k = 0; k < s.defect_mask.size(); ++k)
                outside += s.defect_mask.data()[k] != 0 && s.valid_region.data()[k] == 0;
            CHECK(outside == 0);
            for (std::size_t k = 0; k < s.defect_mask.size(); ++k) {
                const std::uint8_t m = s.defect_mask.data()[k], v = s.valid_region.data()[k];
                CHECK(((m == 0 || m == 255) && (v == 0 || v == 255)));
                if (!((m == 0 || m == 255) && (v == 0 || v == 255))) break;
            }
        }
    }
}

TEST_CASE("the defect changed the pixels under its mask, and only near it, against the matching background") {
    synthetic_config cfg = every_scene(128);
    cfg.defect_count = 30;
    const core::index_t first_bad = cfg.good_count + cfg.test_good_count;
    // A good sample's background is the sample itself.
    CHECK(generate_background(cfg, 0) == generate_sample(cfg, 0).image);
    for (core::index_t i = first_bad; i < cfg.size(); ++i) {
        const synthetic_sample s = generate_sample(cfg, i);
        const auto background = generate_background(cfg, i);
        CAPTURE(i);
        CAPTURE(s.labels.scene);
        CAPTURE(s.labels.defect_type);
        const int n = cfg.resolution;
        const auto c = s.image.shape()[2];
        // Changed pixels outside the mask lie within the anti-aliased fringe (1 pixel), or a
        // stain's soft edge (6 pixels at 128), of it.
        const bool stained = std::find(s.labels.defects.begin(), s.labels.defects.end(), "stain") != s.labels.defects.end();
        const int fringe = stained ? 6 : 1;
        double in_sum = 0, out_sum = 0;
        std::size_t in_n = 0, out_n = 0, changed_far = 0, changed_invalid = 0;
        for (int y = 0; y < n; ++y)
            for (int x = 0; x < n; ++x) {
                double diff = 0;
                for (std::size_t k = 0; k < c; ++k)
                    diff += std::abs(static_cast<int>(s.image(y, x, k)) - static_cast<int>(background(y, x, k)));
                diff /= static_cast<double>(c);
                if (s.defect_mask(y, x)) {
                    in_sum += diff, ++in_n;
                    continue;
                }
                out_sum += diff, ++out_n;
                if (diff == 0) continue;
                if (!s.valid_region(y, x)) ++changed_invalid;
                bool near = false;
                for (int dy = -fringe; dy <= fringe && !near; ++dy)
                    for (int dx = -fringe; dx <= fringe && !near; ++dx) {
                        const int xx = x + dx, yy = y + dy;
                        near = xx >= 0 && yy >= 0 && xx < n && yy < n && s.defect_mask(yy, xx);
                    }
                changed_far += !near;
            }
        REQUIRE(in_n > 0);
        const double in_mad = in_sum / static_cast<double>(in_n);
        const double out_mad = out_sum / static_cast<double>(std::max<std::size_t>(out_n, 1));
        CAPTURE(in_mad);
        CAPTURE(out_mad);
        CHECK(in_mad > 4.0);
        CHECK(in_mad > 20.0 * out_mad);
        CHECK(changed_invalid == 0);
        CHECK(changed_far == 0);
    }
}

TEST_CASE("the valid region of a part is its silhouette: areas match the geometry") {
    synthetic_config cfg = small_config({scene_kind::disc, scene_kind::plate}, 128);
    cfg.good_count = 20;
    for (core::index_t i = 0; i < cfg.good_count; ++i) {
        const synthetic_sample s = generate_sample(cfg, i);
        REQUIRE(s.part.present);
        const double area = s.part.area(cfg.resolution);
        const auto pixels = static_cast<double>(count_set(s.valid_region));
        CAPTURE(i);
        CAPTURE(s.labels.scene);
        CHECK(pixels == doctest::Approx(area).epsilon(0.02));
        if (s.scene == scene_kind::disc) {
            // The disc's centre pixel is valid unless it is a washer, whose hole is not.
            const int cx = static_cast<int>(s.part.centre_x), cy = static_cast<int>(s.part.centre_y);
            CHECK((s.valid_region(cy, cx) == 0) == (s.part.inner_radius > 1.0f));
            CHECK(s.valid_region(0, 0) == 0);
        }
        // A pixel well inside a plate's hole is not valid.
        for (const auto& h : s.part.holes)
            CHECK(s.valid_region(static_cast<std::size_t>(h.y), static_cast<std::size_t>(h.x)) == 0);
    }
    // Textures: the whole frame.
    const synthetic_sample t = generate_sample(small_config({scene_kind::wood}), 0);
    CHECK(!t.part.present);
    CHECK(count_set(t.valid_region) == t.valid_region.size());
}

TEST_CASE("labels: kinds cycle over the defective samples, sizes range from tiny to large") {
    synthetic_config cfg = small_config({scene_kind::brushed_metal}, 128);
    cfg.good_count = 0;
    cfg.test_good_count = 0;
    cfg.defect_count = 80;
    cfg.max_defects_per_image = 1;
    std::vector<double> fractions;
    for (core::index_t i = 0; i < cfg.size(); ++i) {
        const synthetic_labels l = describe_sample(cfg, i);
        const synthetic_sample s = generate_sample(cfg, i);
        CHECK(l.defect_type == s.labels.defect_type);
        CHECK(l.defects == s.labels.defects);
        // Fray never appears on metal; the other four take turns.
        constexpr defect_kind metal_kinds[] = {defect_kind::scratch, defect_kind::crack, defect_kind::hole, defect_kind::stain};
        CHECK(l.defect_type == to_string(metal_kinds[i % 4]));
        fractions.push_back(static_cast<double>(count_set(s.defect_mask)) / static_cast<double>(s.defect_mask.size()));
    }
    std::sort(fractions.begin(), fractions.end());
    CHECK(fractions.front() < 0.003);
    CHECK(fractions.back() > 0.05);

    synthetic_config mixed = small_config({scene_kind::speckled_ceramic});
    mixed.combined_fraction = 1.0;
    mixed.max_defects_per_image = 3;
    mixed.defect_count = 30;
    int combined = 0;
    for (core::index_t i = mixed.good_count + mixed.test_good_count; i < mixed.size(); ++i) {
        const synthetic_labels l = describe_sample(mixed, i);
        if (l.defects.size() > 1) {
            CHECK(l.defect_type == "combined");
            ++combined;
        }
    }
    CHECK(combined > 0);
}

TEST_CASE("grey images and fabric-only fraying") {
    synthetic_config cfg = small_config({scene_kind::woven_fabric});
    cfg.channels = 1;
    cfg.defects = {defect_kind::fray};
    const synthetic_sample s = generate_sample(cfg, cfg.good_count + cfg.test_good_count);
    CHECK(s.image.shape()[2] == 1u);
    CHECK(s.labels.defect_type == "fray");
    CHECK(count_set(s.defect_mask) > 0);
}

TEST_CASE("configuration errors name the field") {
    synthetic_config cfg;
    cfg.resolution = 16;
    CHECK_THROWS_WITH_AS(cfg.validate(), doctest::Contains("resolution"), imbdef::error);
    cfg = {};
    cfg.channels = 2;
    CHECK_THROWS_WITH_AS(generate_sample(cfg, 0), doctest::Contains("channels"), imbdef::error);
    cfg = {};
    cfg.scenes = {scene_kind::brushed_metal};
    cfg.defects = {defect_kind::fray};
    CHECK_THROWS_WITH_AS(cfg.validate(), doctest::Contains("brushed_metal"), imbdef::error);
    cfg = {};
    CHECK_THROWS_WITH_AS(generate_sample(cfg, cfg.size()), doctest::Contains("index"), imbdef::error);
    CHECK_THROWS_WITH_AS(parse_defect_kind("dent"), doctest::Contains("scratch, crack, hole, stain, fray"), imbdef::error);
    CHECK(parse_scene_kind("plate") == scene_kind::plate);
}

TEST_CASE("the configuration round-trips through JSON") {
    synthetic_config cfg = every_scene(96);
    cfg.channels = 1;
    cfg.combined_fraction = 0.25;
    cfg.defects = {defect_kind::hole, defect_kind::stain};
    const nlohmann::json j = cfg;
    const synthetic_config back = j.get<synthetic_config>();
    CHECK(nlohmann::json(back) == j);
    CHECK(back.scenes == cfg.scenes);
    CHECK(back.defects == cfg.defects);
    CHECK_THROWS_AS(nlohmann::json({{"scenes", {"marble"}}}).get<synthetic_config>(), imbdef::error);
    CHECK_THROWS_AS(nlohmann::json({{"resolution", "big"}}).get<synthetic_config>(), imbdef::error);
    CHECK_THROWS_WITH_AS(nlohmann::json({{"resolutoin", 64}}).get<synthetic_config>(), doctest::Contains("resolutoin"),
                         imbdef::error);
}

TEST_CASE("the MVTec AD layout on disk decodes back to the same pixels") {
    temp_dir tmp("layout");
    synthetic_config cfg = small_config({scene_kind::plate});
    cfg.channels = 1;
    cfg.good_count = 3;
    cfg.test_good_count = 2;
    cfg.defect_count = 5;
    cfg.defects = {defect_kind::scratch, defect_kind::hole};
    const synthetic_write_summary summary = write_synthetic_dataset(cfg, tmp.path);
    const fs::path root = tmp.path / "plate";
    CHECK(summary.root == root);
    CHECK(fs::is_regular_file(root / "train/good/000.png"));
    CHECK(fs::is_regular_file(root / "train/good/002.png"));
    CHECK(!fs::exists(root / "train/good/003.png"));
    CHECK(fs::is_regular_file(root / "test/good/001.png"));
    CHECK(fs::is_regular_file(root / "test/scratch/002.png"));
    CHECK(fs::is_regular_file(root / "test/hole/001.png"));
    CHECK(fs::is_regular_file(root / "ground_truth/scratch/002_mask.png"));
    CHECK(fs::is_regular_file(root / "ground_truth/hole/001_mask.png"));
    CHECK(fs::is_regular_file(root / "valid_region/train/good/000.png"));
    CHECK(fs::is_regular_file(root / "valid_region/test/hole/001.png"));
    CHECK(summary.counts.at("train/good") == 3);
    CHECK(summary.counts.at("test/scratch") == 3);
    CHECK(summary.counts.at("test/hole") == 2);
    // No temporary files are left behind.
    for (const auto& e : fs::recursive_directory_iterator(root)) CHECK(e.path().string().find(".tmp") == std::string::npos);

    std::ifstream in(root / "manifest.json");
    const nlohmann::json manifest = nlohmann::json::parse(in);
    CHECK(manifest.at("complete") == true);
    CHECK(manifest.at("config").get<synthetic_config>().seed == cfg.seed);
    REQUIRE(manifest.at("samples").size() == static_cast<std::size_t>(cfg.size()));

    for (const synthetic_file_entry& f : summary.files) {
        const synthetic_sample s = generate_sample(cfg, f.index);
        int w = 0, h = 0, c = 0;
        unsigned char* px = stbi_load((root / f.image).string().c_str(), &w, &h, &c, 0);
        REQUIRE(px != nullptr);
        CHECK(w == cfg.resolution);
        CHECK(h == cfg.resolution);
        CHECK(c == 1);
        CHECK(std::equal(s.image.begin(), s.image.end(), px));
        stbi_image_free(px);
        const auto valid = read_mask(root / f.valid_region);
        CHECK(valid == s.valid_region);
        if (s.labels.is_defective) {
            CHECK(read_mask(root / f.mask) == s.defect_mask);
            CHECK(f.image.parent_path().filename() == s.labels.defect_type);
        }
        CHECK(manifest.at("samples")[static_cast<std::size_t>(f.index)].at("image") == f.image.generic_string());
    }
    // The lead's scanner reads it as an MVTec AD category.
    const dataset_index index = scan_dataset(root);
    CHECK(index.layout == layout_kind::mvtec);
    CHECK(index.records.size() == static_cast<std::size_t>(cfg.size()));

    // A second write refuses to clobber it; overwrite replaces it; ensure leaves a matching one.
    const std::string root_name = root.string();
    CHECK_THROWS_WITH_AS(write_synthetic_dataset(cfg, tmp.path), doctest::Contains(root_name.c_str()), imbdef::error);
    CHECK_NOTHROW(write_synthetic_dataset(cfg, tmp.path, {.overwrite = true}));
    const auto stamp = fs::last_write_time(root / "manifest.json");
    CHECK(ensure_synthetic_dataset(cfg, tmp.path) == root);
    CHECK(fs::last_write_time(root / "manifest.json") == stamp);
}

TEST_CASE("ensure_synthetic_dataset never deletes a dataset that is not its own") {
    temp_dir tmp("foreign");
    synthetic_config cfg = small_config({scene_kind::disc}, 32);
    fs::create_directories(tmp.path / "disc" / "train" / "good");
    std::ofstream(tmp.path / "disc" / "train" / "good" / "mine.png") << "x";
    CHECK_THROWS_AS(ensure_synthetic_dataset(cfg, tmp.path), imbdef::error);
    CHECK(fs::exists(tmp.path / "disc" / "train" / "good" / "mine.png"));
}

TEST_CASE("an unwritable output folder is a clear error naming the path") {
    temp_dir tmp("unwritable");
    // A regular file where a folder should be: no user, root included, can create folders in it.
    const fs::path blocker = tmp.path / "not_a_folder";
    std::ofstream(blocker) << "x";
    synthetic_config cfg = small_config({scene_kind::wood}, 32);
    try {
        write_synthetic_dataset(cfg, blocker / "out");
        FAIL("expected imbdef::error");
    } catch (const imbdef::error& e) {
        CHECK(std::string(e.what()).find((blocker / "out").string()) != std::string::npos);
    }
}
