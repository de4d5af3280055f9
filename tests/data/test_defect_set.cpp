// Defect sets on small trees built in the test, one per layout: classes, counts, the one-third
// split, every error naming its file, the skip mode, mask binarisation and resizing, the tensors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <imbdef/data/defect_set.hpp>
#include <imbdef/data/image_io.hpp>

#include "../support/file_bytes.hpp"
#include "../support/temp_dir.hpp"

using imbdef::test_support::read_bytes;
using imbdef::test_support::temp_dir;
using imbdef::test_support::write_bytes;

namespace fs = std::filesystem;
using namespace imbdef;

namespace {

// A grey (or RGB) h x w image with a gradient, so that resizing has something to average.
void write_image(const fs::path& p, std::size_t h = 16, std::size_t w = 16, std::size_t c = 1) {
    fs::create_directories(p.parent_path());
    auto im = xt::xtensor<std::uint8_t, 3>::from_shape({h, w, c});
    for (std::size_t y = 0; y < h; ++y)
        for (std::size_t x = 0; x < w; ++x)
            for (std::size_t k = 0; k < c; ++k) im(y, x, k) = static_cast<std::uint8_t>((x * 13 + y * 5 + k * 60) % 256);
    data::write_png(p, im);
}

// A mask whose set pixels are the left `cols` columns (0: all zero), with value `on`.
void write_mask(const fs::path& p, std::size_t cols, std::size_t h = 16, std::size_t w = 16, std::uint8_t on = 255) {
    fs::create_directories(p.parent_path());
    auto m = xt::xtensor<std::uint8_t, 2>::from_shape({h, w});
    for (std::size_t y = 0; y < h; ++y)
        for (std::size_t x = 0; x < w; ++x) m(y, x) = x < cols ? on : 0;
    data::write_png_mask(p, m);
}

// doctest::Contains of a built string.
doctest::Contains has(const std::string& s) { return doctest::Contains(s.c_str()); }

void write_text(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

data::defect_set_options options(core::index_t resolution = 8) {
    data::defect_set_options o;
    o.preprocess.resolution = resolution;
    return o;
}

// MVTec AD: `crack` with `n_crack` images named in reverse creation order, `scratch` with one.
void mvtec(const fs::path& root, int n_crack = 3) {
    write_image(root / "train/good/000.png");
    write_image(root / "test/good/000.png");
    for (int i = n_crack - 1; i >= 0; --i) {
        const std::string name = "00" + std::to_string(i);
        write_image(root / "test/crack" / (name + ".png"));
        write_mask(root / "ground_truth/crack" / (name + "_mask.png"), 2 + static_cast<std::size_t>(i) * 2);
    }
    write_image(root / "test/scratch/000.png");
    write_mask(root / "ground_truth/scratch/000_mask.png", 8);
}

std::vector<std::string> file_names(const data::defect_set& s, const std::vector<std::size_t>& which) {
    std::vector<std::string> out;
    for (const auto i : which) out.push_back(s.samples[i].image.filename().string());
    return out;
}

}  // namespace

TEST_CASE("MVTec AD: classes are the test folders but good, masks from ground_truth, sorted by file name") {
    temp_dir dir;
    mvtec(dir.path);
    const auto listing = data::list_defects(dir.path);
    CHECK(listing.layout == data::layout_kind::mvtec);
    CHECK(listing.class_names == std::vector<std::string>{"crack", "scratch"});
    CHECK(listing.candidates.size() == 4);

    const auto set = data::open_defect_set(dir.path, options());
    CHECK(set.layout == data::layout_kind::mvtec);
    CHECK(set.class_names == std::vector<std::string>{"crack", "scratch"});
    CHECK(set.counts() == std::vector<std::size_t>{3, 1});
    CHECK(file_names(set, {0, 1, 2, 3}) == std::vector<std::string>{"000.png", "001.png", "002.png", "000.png"});
    CHECK(set.samples[0].mask == dir.path / "ground_truth/crack/000_mask.png");
    CHECK(set.samples[3].class_index == 1);
    CHECK(set.skipped.empty());
    CHECK(set.defect_free.empty());
    CHECK(set.preprocess.channels == 1);  // followed the (grey) data
}

TEST_CASE("Magnetic Tile: class is <Class> as spelled, MT_Free left out, the .png beside the .jpg is the mask") {
    temp_dir dir;
    write_image(dir / "MT_Free/Imgs/f1.jpg");
    write_mask(dir / "MT_Free/Imgs/f1.png", 0);
    for (const char* name : {"b1", "b2"}) {
        write_image(dir / "MT_Blowhole/Imgs" / (std::string(name) + ".jpg"));
        write_mask(dir / "MT_Blowhole/Imgs" / (std::string(name) + ".png"), 4);
    }
    write_image(dir / "MT_Crack/Imgs/c1.jpg");
    write_mask(dir / "MT_Crack/Imgs/c1.png", 4);
    const auto set = data::open_defect_set(dir.path, options());
    CHECK(set.layout == data::layout_kind::magnetic_tile);
    CHECK(set.class_names == std::vector<std::string>{"Blowhole", "Crack"});
    CHECK(set.counts() == std::vector<std::size_t>{2, 1});
    CHECK(set.samples[2].mask == dir.path / "MT_Crack/Imgs/c1.png");
}

TEST_CASE("image + mask folders: one class named after the folder; an all-zero mask is a defect-free image") {
    temp_dir dir;
    const fs::path root = dir / "plates";
    write_image(root / "images/a.png");
    write_mask(root / "masks/a.png", 4);
    write_image(root / "images/b.png");
    write_mask(root / "masks/b.png", 0);  // defect-free
    write_image(root / "images/c.jpg");
    write_mask(root / "masks/c.bmp.png", 4);  // stem "c.bmp": not c's mask
    write_mask(root / "masks/c.png", 2);
    const auto set = data::open_defect_set(root, options());
    CHECK(set.layout == data::layout_kind::image_mask_folders);
    CHECK(set.class_names == std::vector<std::string>{"plates"});
    CHECK(set.counts() == std::vector<std::size_t>{2});
    CHECK(set.defect_free == std::vector<fs::path>{root / "images/b.png"});
    CHECK(set.samples[1].mask == root / "masks/c.png");
    CHECK(set.skipped.empty());
}

TEST_CASE("the MPDD copy: train, val and test each with images and masks, all-zero masks left out") {
    temp_dir dir;
    const fs::path root = dir / "mpdd";
    int k = 0;
    for (const char* split : {"train", "val", "test"})
        for (int i = 0; i < 3; ++i, ++k) {
            const std::string name = std::string(split) + "_0" + std::to_string(i) + ".png";
            write_image(root / split / "images" / name, 16, 16, 3);
            write_mask(root / split / "masks" / name, k % 2 ? 0 : 4);  // 5 defective, 4 defect-free
        }
    const auto set = data::open_defect_set(root, options());
    CHECK(set.layout == data::layout_kind::image_mask_folders);
    CHECK(set.class_names == std::vector<std::string>{"mpdd"});
    CHECK(set.counts() == std::vector<std::size_t>{5});
    CHECK(set.defect_free.size() == 4);
    CHECK(set.preprocess.channels == 3);
    // File-name order, across splits: test_00, test_02, train_00, train_02, val_01.
    CHECK(file_names(set, {0, 1, 2, 3, 4}) ==
          std::vector<std::string>{"test_00.png", "test_02.png", "train_00.png", "train_02.png", "val_01.png"});
    const auto split = data::split_defects(set, data::split_protocol::one_third);
    CHECK(split.train == std::vector<std::size_t>{0, 1});
    CHECK(split.held_out == std::vector<std::size_t>{2, 3, 4});
}

TEST_CASE("image + mask folders: sub-folders are classes, and classes.txt maps files and folders") {
    temp_dir dir;
    const fs::path root = dir / "parts";
    for (const char* sub : {"rust", "dent"})
        for (const char* name : {"1.png", "2.png"}) {
            write_image(root / "images" / sub / name);
            write_mask(root / "masks" / sub / name, 4);
        }
    auto set = data::open_defect_set(root, options());
    CHECK(set.class_names == std::vector<std::string>{"dent", "rust"});
    CHECK(set.counts() == std::vector<std::size_t>{2, 2});

    write_image(root / "images/loose.png");
    write_mask(root / "masks/loose.png", 4);
    write_text(root / "classes.txt", "# key class\n\nrust/   corrosion\ndent/ scratch or dent\r\ndent/2.png corrosion\nloose.png corrosion\n");
    set = data::open_defect_set(root, options());
    CHECK(set.class_names == std::vector<std::string>{"corrosion", "scratch or dent"});
    CHECK(set.counts() == std::vector<std::size_t>{4, 1});
    CHECK(set.samples[4].image == root / "images/dent/1.png");

    write_text(root / "classes.txt", "rust/ corrosion\ndent/ dent\n");
    CHECK_THROWS_WITH_AS(data::list_defects(root), doctest::Contains("loose.png: expected a line for 'loose.png' (or its folder) in"),
                         imbdef::error);
    write_text(root / "classes.txt", "rust/ corrosion\ndent/ dent\nloose.png x\nlose.png x\n");
    CHECK_THROWS_WITH_AS(data::list_defects(root),
                         doctest::Contains("classes.txt line 4: expected a key naming an image or folder under images/, found 'lose.png'"),
                         imbdef::error);
    write_text(root / "classes.txt", "rust/ corrosion\ndent/\n");
    CHECK_THROWS_WITH_AS(data::list_defects(root), doctest::Contains("classes.txt line 2: expected '<image or folder/> <class>', found 'dent/'"),
                         imbdef::error);
    write_text(root / "classes.txt", "rust/ a\nrust/ b\n");
    CHECK_THROWS_WITH_AS(data::list_defects(root), doctest::Contains("line 2: expected each key once, found 'rust/' again (first on line 1)"),
                         imbdef::error);
}

TEST_CASE("the layout can be forced; an unknown folder is a clear error") {
    temp_dir dir;
    write_image(dir / "images/a.png");
    write_mask(dir / "masks/a.png", 4);
    fs::create_directories(dir / "ground_truth");  // looks like MVTec AD to detection
    CHECK_THROWS_WITH_AS(data::list_defects(dir.path), doctest::Contains("expected a folder (MVTec AD: test/<defect>)"),
                         imbdef::error);
    const auto listing = data::list_defects(dir.path, data::layout_kind::image_mask_folders);
    CHECK(listing.layout == data::layout_kind::image_mask_folders);
    CHECK(listing.candidates.size() == 1);

    temp_dir other;
    write_image(other / "random/thing.png");
    CHECK_THROWS_WITH_AS(data::list_defects(other.path), doctest::Contains("none of them"), imbdef::error);
    CHECK_THROWS_WITH_AS(data::list_defects(other / "nope"), doctest::Contains("nothing there"), imbdef::error);
}

TEST_CASE("one-third split: per class in file-name order, ceil(n/3) and at least one train; 'all' trains on all") {
    temp_dir dir;
    // Class k has k + 1 images (1 .. 7), in sub-folders of an image + mask tree.
    for (int k = 0; k < 7; ++k)
        for (int i = 0; i <= k; ++i) {
            std::string sub = "c0", name = "f0.png";  // single digits (GCC 12 warns falsely on "c" + to_string)
            sub[1] = static_cast<char>('0' + k);
            name[1] = static_cast<char>('0' + 9 - i);
            write_image(dir / "images" / sub / name);
            write_mask(dir / "masks" / sub / name, 2);
        }
    const auto set = data::open_defect_set(dir.path, options());
    REQUIRE(set.class_names.size() == 7);
    const auto split = data::split_defects(set, data::split_protocol::one_third);
    std::vector<std::size_t> train(7, 0), held(7, 0);
    for (const auto i : split.train) ++train[static_cast<std::size_t>(set.samples[i].class_index)];
    for (const auto i : split.held_out) ++held[static_cast<std::size_t>(set.samples[i].class_index)];
    CHECK(train == std::vector<std::size_t>{1, 1, 1, 2, 2, 2, 3});
    CHECK(held == std::vector<std::size_t>{0, 1, 2, 2, 3, 4, 4});
    // Class c6 holds f3 .. f9: f3, f4, f5 train.
    const std::size_t c6 = set.samples.size() - 7;
    CHECK(file_names(set, {c6, c6 + 1, c6 + 2}) == std::vector<std::string>{"f3.png", "f4.png", "f5.png"});
    CHECK(std::find(split.train.begin(), split.train.end(), c6 + 2) != split.train.end());
    CHECK(std::find(split.held_out.begin(), split.held_out.end(), c6 + 3) != split.held_out.end());

    const auto all = data::split_defects(set, data::split_protocol::all);
    CHECK(all.train.size() == set.samples.size());
    CHECK(all.held_out.empty());

    const std::string table = data::counts_table(set, &split);
    CHECK(table.find("class  images  train  held out\n") == 0);
    CHECK(table.find("c6          7      3         4\n") != std::string::npos);
    CHECK(table.find("total      28     12        16\n") != std::string::npos);
    CHECK(data::counts_table(set).find("c0          1\n") != std::string::npos);
}

TEST_CASE("each bad file stops opening with an error naming it") {
    temp_dir dir;
    mvtec(dir.path);
    const fs::path crack1 = dir / "ground_truth/crack/001_mask.png";
    const auto original = read_bytes(crack1);

    write_mask(crack1, 0);
    CHECK_THROWS_WITH_AS(data::open_defect_set(dir.path, options()),
                         has(crack1.string() + ": expected at least one defect pixel (>= 128) for a defect image, found an all-zero mask"),
                         imbdef::error);
    write_mask(crack1, 4, 16, 12);
    CHECK_THROWS_WITH_AS(data::open_defect_set(dir.path, options()),
                         has(crack1.string() + ": expected the size of its image " +
                                           (dir / "test/crack/001.png").string() + ", 16 x 16, found 12 x 16"),
                         imbdef::error);
    fs::remove(crack1);
    CHECK_THROWS_WITH_AS(data::open_defect_set(dir.path, options()),
                         has((dir / "test/crack/001.png").string() + ": expected its mask " + crack1.string() +
                                           ", found no such file"),
                         imbdef::error);
    write_bytes(crack1, original);
    auto truncated = read_bytes(dir / "test/crack/002.png");
    truncated.resize(truncated.size() / 2);
    write_bytes(dir / "test/crack/002.png", truncated);
    CHECK_THROWS_WITH_AS(data::open_defect_set(dir.path, options()),
                         has("read image " + (dir / "test/crack/002.png").string() + ": expected a complete file"),
                         imbdef::error);
    fs::remove(dir / "test/crack/002.png");

    // The first bad file in list order is the one reported.
    write_mask(crack1, 0);
    write_mask(dir / "ground_truth/crack/000_mask.png", 0);
    CHECK_THROWS_WITH_AS(data::open_defect_set(dir.path, options()), doctest::Contains("crack/000_mask.png"), imbdef::error);

    fs::create_directories(dir / "test/hole");
    CHECK_THROWS_WITH_AS(data::list_defects(dir.path),
                         has("defect class hole in " + dir.path.string() + ": expected at least one image, found none"),
                         imbdef::error);
}

TEST_CASE("a defect that the crop or resize loses is an error at that resolution; the crop follows the defect") {
    temp_dir dir;
    write_image(dir / "images/tall.png", 32, 16);
    {  // set only the top 4 rows: the image's centred 16 x 16 square is rows 8 .. 23
        auto m = xt::xtensor<std::uint8_t, 2>::from_shape({32, 16});
        for (std::size_t y = 0; y < 32; ++y)
            for (std::size_t x = 0; x < 16; ++x) m(y, x) = y < 4 ? 255 : 0;
        fs::create_directories(dir / "masks");
        data::write_png_mask(dir / "masks/tall.png", m);
    }
    auto centred = options(8);
    centred.crop_around_defect = false;
    CHECK_THROWS_WITH_AS(data::open_defect_set(dir.path, centred),
                         has((dir / "masks/tall.png").string() + " at resolution 8: expected at least one defect pixel"),
                         imbdef::error);
    auto padded = options(8);
    padded.preprocess.square = data::square_mode::pad_edge;
    CHECK(data::open_defect_set(dir.path, padded).samples.size() == 1);
    // The default: the 16 x 16 square is centred on the defect (rows 0 .. 3), clamped to rows
    // 0 .. 15, so the defect is the top quarter of the 8 x 8 mask, and the image is cut the same way.
    const auto around = data::open_defect_set(dir.path, options(8));
    REQUIRE(around.samples.size() == 1);
    CHECK(around.samples[0].area_fraction == doctest::Approx(0.25));
    core::tensor<float> image({1, 8, 8}), mask({1, 8, 8});
    data::load_defect_sample(around, 0, image.view(), mask.view());
    for (core::index_t y = 0; y < 8; ++y) CHECK(mask(0, y, 3) == (y < 2 ? 1.0f : -1.0f));
    // A defect under half an output pixel is lost by the resize whatever the crop.
    auto m = xt::xtensor<std::uint8_t, 2>::from_shape({32, 16});
    m.fill(0);
    m(20, 7) = 255;
    data::write_png_mask(dir / "masks/tall.png", m);
    CHECK_THROWS_WITH_AS(data::open_defect_set(dir.path, options(8)), has("covers under half an output pixel"), imbdef::error);
}

TEST_CASE("skip mode: every bad file reported with its reason, in list order; a class left empty is still an error") {
    temp_dir dir;
    mvtec(dir.path, 4);
    write_mask(dir / "ground_truth/crack/001_mask.png", 0);
    fs::remove(dir / "ground_truth/crack/003_mask.png");
    auto o = options();
    o.skip_bad_files = true;
    std::vector<fs::path> reported;
    o.on_skip = [&](const data::skipped_file& f) { reported.push_back(f.path); };
    const auto set = data::open_defect_set(dir.path, o);
    CHECK(set.counts() == std::vector<std::size_t>{2, 1});
    REQUIRE(set.skipped.size() == 2);
    CHECK(set.skipped[0].path == dir / "test/crack/001.png");
    CHECK(set.skipped[0].reason.find("all-zero mask") != std::string::npos);
    CHECK(set.skipped[1].path == dir / "test/crack/003.png");
    CHECK(set.skipped[1].reason.find("no such file") != std::string::npos);
    CHECK(reported == std::vector<fs::path>{set.skipped[0].path, set.skipped[1].path});
    CHECK(data::counts_table(set).find("(2 bad files skipped)") != std::string::npos);

    write_mask(dir / "ground_truth/scratch/000_mask.png", 0);
    o.on_skip = {};
    CHECK_THROWS_WITH_AS(data::open_defect_set(dir.path, o),
                         has("defect class scratch in " + dir.path.string() +
                                           ": expected at least one usable defect image, found none: 0 defect-free (all-zero mask), 1 skipped, the first for defect mask"),
                         imbdef::error);
}

TEST_CASE("tensors: image in [-1, 1], mask binarised at 128 to {-1, +1}, area-resized with the image's crop") {
    temp_dir dir;
    write_image(dir / "images/a.png", 16, 24, 3);  // landscape: centre crop keeps columns 4 .. 19
    {
        auto m = xt::xtensor<std::uint8_t, 2>::from_shape({16, 24});
        for (std::size_t y = 0; y < 16; ++y)
            for (std::size_t x = 0; x < 24; ++x) m(y, x) = x < 12 ? 128 : 127;  // 127 is background
        fs::create_directories(dir / "masks");
        data::write_png_mask(dir / "masks/a.png", m);
    }
    write_image(dir / "images/b.png");
    {  // a 2 x 2 block at (4, 4) and a pixel below it: at 8, pixel (2, 2) is covered, (3, 2) a quarter
        auto m = xt::xtensor<std::uint8_t, 2>::from_shape({16, 16});
        for (std::size_t y = 0; y < 16; ++y)
            for (std::size_t x = 0; x < 16; ++x) m(y, x) = ((y >= 4 && y < 6 && x >= 4 && x < 6) || (y == 6 && x == 4)) ? 255 : 0;
        data::write_png_mask(dir / "masks/b.png", m);
    }
    auto centred = options(8);
    centred.crop_around_defect = false;  // the image's own centre crop (the default follows the defect)
    const auto set = data::open_defect_set(dir.path, centred);
    REQUIRE(set.samples.size() == 2);
    CHECK(set.preprocess.channels == 3);  // a colour image makes the set RGB; grey b is expanded
    // a: columns 4 .. 11 of the crop's 16 are set -> the left half at 8.
    CHECK(set.samples[0].area_fraction == doctest::Approx(0.5));
    CHECK(set.samples[1].area_fraction == doctest::Approx(1.0 / 64));

    const auto t = data::load_defect_tensors(set, {1, 0});
    CHECK(t.images.shape() == core::shape{2, 3, 8, 8});
    CHECK(t.masks.shape() == core::shape{2, 1, 8, 8});
    CHECK(t.classes == std::vector<int>{0, 0});
    for (float v : t.images) CHECK((v >= -1.0f && v <= 1.0f));
    for (core::index_t y = 0; y < 8; ++y)
        for (core::index_t x = 0; x < 8; ++x) {
            CHECK(t.masks[64 + y * 8 + x] == (x < 4 ? 1.0f : -1.0f));
            CHECK(t.masks[y * 8 + x] == (y == 2 && x == 2 ? 1.0f : -1.0f));
        }
    // b is grey: its three planes are the same.
    CHECK(std::equal(t.images.begin(), t.images.begin() + 64, t.images.begin() + 64));

    const auto ranges = data::class_area_ranges(set, {0, 1});
    REQUIRE(ranges.size() == 1);
    CHECK(ranges[0].min == doctest::Approx(1.0 / 64));
    CHECK(ranges[0].max == doctest::Approx(0.5));
    CHECK(data::class_area_ranges(set, {0})[0].min == doctest::Approx(0.5));

    // Upscaling (16 -> 32) keeps the half.
    centred.preprocess.resolution = 32;
    const auto big = data::open_defect_set(dir.path, centred);
    CHECK(big.samples[0].area_fraction == doctest::Approx(0.5));
}

TEST_CASE("loading a sample that went bad after opening throws and leaves the outputs untouched") {
    temp_dir dir;
    write_image(dir / "images/a.png");
    write_mask(dir / "masks/a.png", 4);
    const auto set = data::open_defect_set(dir.path, options(8));
    core::tensor<float> image(core::shape{1, 8, 8}), mask(core::shape{1, 8, 8});
    std::fill(image.begin(), image.end(), 7.0f);
    std::fill(mask.begin(), mask.end(), 7.0f);
    write_mask(dir / "masks/a.png", 0);
    CHECK_THROWS_WITH_AS(data::load_defect_sample(set, 0, image.view(), mask.view()), doctest::Contains("all-zero mask"),
                         imbdef::error);
    CHECK(std::all_of(image.begin(), image.end(), [](float v) { return v == 7.0f; }));
    CHECK(std::all_of(mask.begin(), mask.end(), [](float v) { return v == 7.0f; }));
    CHECK_THROWS_WITH_AS(data::load_defect_sample(set, 1, image.view(), mask.view()),
                         doctest::Contains("load_defect_sample: expected a sample index below 1, found 1"), imbdef::error);
    core::tensor<float> wrong(core::shape{3, 8, 8});
    CHECK_THROWS_WITH_AS(data::load_defect_sample(set, 0, wrong.view(), mask.view()),
                         doctest::Contains("(image): expected an output of shape"), imbdef::error);
    CHECK_THROWS_WITH_AS(data::load_defect_tensors(set, {0}), has((dir / "masks/a.png").string()), imbdef::error);
    CHECK_THROWS_WITH_AS(data::open_defect_set(dir.path, options(0)), doctest::Contains("resolution 0"), imbdef::error);
}
