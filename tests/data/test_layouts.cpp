// Dataset layouts on small trees built in the test, and on the real data when it is there.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <imbdef/data/image_io.hpp>
#include <imbdef/data/layouts.hpp>

namespace fs = std::filesystem;
using namespace imbdef;

namespace {
struct tree {
    fs::path root;
    explicit tree(const char* name) : root(fs::temp_directory_path() / name) {
        fs::remove_all(root);
        fs::create_directories(root);
    }
    ~tree() { fs::remove_all(root); }
    void image(const fs::path& rel) const {
        fs::create_directories((root / rel).parent_path());
        data::write_png(root / rel, xt::xtensor<std::uint8_t, 3>::from_shape({4, 4, 1}));
    }
};
}  // namespace

TEST_CASE("MVTec AD: good training images, labelled test images with their masks") {
    const tree t("imbdef-mvtec-test");
    t.image("train/good/000.png");
    t.image("train/good/001.png");
    t.image("test/good/000.png");
    t.image("test/scratch/000.png");
    t.image("ground_truth/scratch/000_mask.png");
    const auto index = data::scan_dataset(t.root);
    CHECK(index.layout == data::layout_kind::mvtec);
    REQUIRE(index.records.size() == 4);
    CHECK(index.good().size() == 3);
    const auto bad = index.defective();
    REQUIRE(bad.size() == 1);
    CHECK(bad[0].label == "scratch");
    CHECK(bad[0].mask == t.root / "ground_truth/scratch/000_mask.png");

    t.image("test/crack/007.png");  // no mask
    CHECK_THROWS_WITH_AS(data::scan_mvtec(t.root), doctest::Contains("crack/007.png: expected its mask"), imbdef::error);
}

TEST_CASE("image + mask folders, alone or per split; a missing mask names the image") {
    const tree t("imbdef-folders-test");
    t.image("train/images/a.png");
    t.image("train/masks/a.png");
    t.image("val/images/b.jpg.png");
    t.image("val/masks/b.jpg.png");
    const auto index = data::scan_dataset(t.root);
    CHECK(index.layout == data::layout_kind::image_mask_folders);
    REQUIRE(index.records.size() == 2);
    CHECK(index.records[0].split == "train");
    CHECK(index.records[1].split == "val");
    t.image("val/images/c.png");
    CHECK_THROWS_WITH_AS(data::scan_dataset(t.root), doctest::Contains("c.png: expected a mask named c"), imbdef::error);
}

TEST_CASE("Magnetic Tile: classes from folder names, MT_Free is good") {
    const tree t("imbdef-mt-test");
    t.image("MT_Free/Imgs/x1.jpg");
    t.image("MT_Free/Imgs/x1.png");
    t.image("MT_Crack/Imgs/y1.jpg");
    t.image("MT_Crack/Imgs/y1.png");
    const auto index = data::scan_dataset(t.root);
    CHECK(index.layout == data::layout_kind::magnetic_tile);
    REQUIRE(index.records.size() == 2);
    CHECK(index.defective()[0].label == "crack");
    CHECK(index.good()[0].image.filename() == "x1.jpg");
}

TEST_CASE("a folder in no known layout, and a missing folder, are clear errors") {
    const tree t("imbdef-nolayout-test");
    t.image("random/thing.png");
    CHECK_THROWS_WITH_AS(data::scan_dataset(t.root), doctest::Contains("none of them"), imbdef::error);
    CHECK_THROWS_WITH_AS(data::scan_dataset(t.root / "nope"), doctest::Contains("nothing there"), imbdef::error);
}

TEST_CASE("real data: both shared datasets are recognised with their published counts" * doctest::test_suite("real-data")) {
    const char* env = std::getenv("IMBDEF_DATA_DIR");
    const fs::path root = env ? fs::path(env) : fs::path(IMBDEF_SHARED_DATA_DIR);
    if (!fs::exists(root / "magnetic-tile")) {
        std::printf("no real data at %s: skipped\n", root.string().c_str());
        return;
    }
    const auto mt = data::scan_dataset(root / "magnetic-tile");
    CHECK(mt.layout == data::layout_kind::magnetic_tile);
    CHECK(mt.good().size() == 666);
    CHECK(mt.defective().size() == 80 + 59 + 40 + 72);
    const auto mpdd = data::scan_dataset(root / "mpdd-metal-plate");
    CHECK(mpdd.layout == data::layout_kind::image_mask_folders);
    CHECK(mpdd.records.size() == 161);
}
