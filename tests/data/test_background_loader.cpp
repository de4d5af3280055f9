// The stage-1 loader: deterministic, resumable order; flips of image and mask together; bad files
// stopped or skipped; cache, prefetch depth and thread count changing no bit; clean shutdown.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <imbdef/core/parallel.hpp>
#include <imbdef/data/background_loader.hpp>
#include <imbdef/data/image_io.hpp>

#include "../support/file_bytes.hpp"
#include "../support/temp_dir.hpp"

using imbdef::test_support::read_bytes;
using imbdef::test_support::temp_dir;
using imbdef::test_support::write_bytes;

namespace fs = std::filesystem;
using namespace imbdef;

namespace {


// Image i: 10 x 12 (portrait, cropped), `c` channels, an asymmetric pattern unique to i.
xt::xtensor<std::uint8_t, 3> pattern(int i, std::size_t c = 1) {
    auto im = xt::xtensor<std::uint8_t, 3>::from_shape({12, 10, c});
    for (std::size_t y = 0; y < 12; ++y)
        for (std::size_t x = 0; x < 10; ++x)
            for (std::size_t k = 0; k < c; ++k)
                im(y, x, k) = static_cast<std::uint8_t>((i * 23 + static_cast<int>(x * x * 3 + y * 7 + k * 40)) % 256);
    return im;
}

// n images img000.png ... with, for from_files, masks whose set pixels are the left columns.
std::vector<fs::path> write_set(const fs::path& dir, int n, std::size_t c = 1) {
    std::vector<fs::path> files;
    for (int i = 0; i < n; ++i) {
        char name[32];
        std::snprintf(name, sizeof name, "img%03d.png", i);
        data::write_png(dir / name, pattern(i, c));
        files.push_back(dir / name);
        auto m = xt::xtensor<std::uint8_t, 2>::from_shape({12, 10});
        for (std::size_t y = 0; y < 12; ++y)
            for (std::size_t x = 0; x < 10; ++x) m(y, x) = x < static_cast<std::size_t>(2 + i % 4) ? 255 : 0;
        fs::create_directories(dir / "regions");
        data::write_png_mask(dir / "regions" / name, m);
    }
    return files;
}

data::background_options options(core::index_t resolution = 8) {
    data::background_options o;
    o.preprocess.resolution = resolution;
    o.valid_region = data::full_frame{};
    return o;
}

bool same(const core::tensor<float>& a, const core::tensor<float>& b) {
    return a.shape() == b.shape() && std::equal(a.begin(), a.end(), b.begin());
}

struct batch {
    core::tensor<float> images, masks;
    bool operator==(const batch& other) const { return same(images, other.images) && same(masks, other.masks); }
};

batch next_batch(data::background_loader& l) {
    batch b{core::tensor<float>(core::shape{l.batch_size(), l.channels(), l.resolution(), l.resolution()}),
            core::tensor<float>(core::shape{l.batch_size(), 1, l.resolution(), l.resolution()})};
    l.next(b.images, b.masks);
    return b;
}

std::vector<batch> batches(data::background_loader& l, int count) {
    std::vector<batch> out;
    for (int i = 0; i < count; ++i) out.push_back(next_batch(l));
    return out;
}

}  // namespace

TEST_CASE("epoch_order is a permutation per epoch, differs between epochs and seeds") {
    const auto a = data::epoch_order(7, 0, 50);
    std::vector<core::index_t> sorted = a;
    std::sort(sorted.begin(), sorted.end());
    std::vector<core::index_t> iota(50);
    std::iota(iota.begin(), iota.end(), 0);
    CHECK(sorted == iota);
    CHECK(a == data::epoch_order(7, 0, 50));
    CHECK(a != data::epoch_order(7, 1, 50));
    CHECK(a != data::epoch_order(8, 0, 50));
    CHECK(a != iota);
    CHECK(data::epoch_order(7, 3, 1) == std::vector<core::index_t>{0});
    // Position 0 of 1000 epochs of 3 samples: each sample about a third of the time.
    int first[3] = {};
    for (std::uint64_t e = 0; e < 3000; ++e) ++first[data::epoch_order(1, e, 3)[0]];
    for (int f : first) CHECK(std::abs(f - 1000) < 120);
}

TEST_CASE("same seed, same batches bit for bit; a different seed differs; batches wrap across epochs") {
    temp_dir dir;
    const auto files = write_set(dir.path, 10);
    data::loader_options lo{.batch_size = 4, .seed = 11, .x_flip = true};
    data::background_loader a(data::background_sources(files), options(), lo);
    data::background_loader b(data::background_sources(files), options(), lo);
    CHECK(a.size() == 10);
    CHECK(a.channels() == 1);
    CHECK(a.resolution() == 8);
    CHECK(a.skipped().empty());
    const auto ba = batches(a, 7);  // 28 samples: 2.8 epochs
    const auto bb = batches(b, 7);
    for (int i = 0; i < 7; ++i) CHECK(ba[i] == bb[i]);
    CHECK(a.position() == 7);
    CHECK(a.epoch() == 2);

    lo.seed = 12;
    data::background_loader c(data::background_sources(files), options(), lo);
    CHECK_FALSE(next_batch(c) == ba[0]);

    // Every epoch serves every sample once: the reference set (unflipped) identifies each slot.
    const auto all = a.load_all();
    REQUIRE(all.images.shape() == core::shape{10, 1, 8, 8});
    data::sample_order order(11, 10, true);
    for (std::uint64_t pos = 0; pos < 28; ++pos) {
        const auto slot = order.at(pos);
        const batch& bt = ba[pos / 4];
        const core::index_t k = static_cast<core::index_t>(pos % 4);
        for (int y = 0; y < 8; ++y)
            for (int x = 0; x < 8; ++x) {
                const int sx = slot.flip ? 7 - x : x;
                REQUIRE(bt.images(k, 0, y, x) == all.images(slot.sample, 0, y, sx));
                REQUIRE(bt.masks(k, 0, y, x) == all.masks(slot.sample, 0, y, sx));
            }
    }
    std::set<core::index_t> epoch1;
    for (std::uint64_t pos = 10; pos < 20; ++pos) epoch1.insert(order.at(pos).sample);
    CHECK(epoch1.size() == 10);
}

TEST_CASE("seek(k) and start_batch k both equal skipping k batches; seek goes back too") {
    temp_dir dir;
    const auto files = write_set(dir.path, 7);
    const data::loader_options lo{.batch_size = 3, .seed = 5, .x_flip = true, .prefetch = 2};
    data::background_loader a(data::background_sources(files), options(), lo);
    const auto ref = batches(a, 9);

    data::background_loader b(data::background_sources(files), options(), lo);
    b.seek(5);
    CHECK(b.position() == 5);
    CHECK(next_batch(b) == ref[5]);
    CHECK(next_batch(b) == ref[6]);
    b.seek(1);
    CHECK(next_batch(b) == ref[1]);
    CHECK(b.position() == 2);

    data::loader_options resumed = lo;
    resumed.start_batch = 4;
    data::background_loader c(data::background_sources(files), options(), resumed);
    CHECK(c.position() == 4);
    for (int i = 4; i < 9; ++i) CHECK(next_batch(c) == ref[i]);
}

TEST_CASE("no bit depends on the cache budget, the prefetch depth or the thread count") {
    temp_dir dir;
    const auto files = write_set(dir.path, 6);
    const data::loader_options lo{.batch_size = 4, .seed = 3, .x_flip = true};
    auto o = options(16);
    o.valid_region = data::otsu_foreground{};
    std::vector<batch> ref;
    {
        data::background_loader ref_loader(data::background_sources(files), o, lo);
        CHECK(ref_loader.cached() == 6);
        ref = batches(ref_loader, 5);
    }
    data::loader_options uncached = lo;
    uncached.cache_bytes = 3 * (16 * 16 * 4 + 16 * 16);  // the first three files only
    uncached.prefetch = 1;
    {
        data::background_loader half(data::background_sources(files), o, uncached);
        CHECK(half.cached() == 3);
        for (int i = 0; i < 5; ++i) CHECK(next_batch(half) == ref[i]);
    }
    uncached.cache_bytes = 0;
    uncached.prefetch = 4;
    const int threads = core::num_threads();
    for (int t : {1, 3}) {
        core::set_num_threads(t);  // only while no loader exists (background_loader.hpp)
        data::background_loader none(data::background_sources(files), o, uncached);
        CHECK(none.cached() == 0);
        for (int i = 0; i < 5; ++i) CHECK(next_batch(none) == ref[i]);
    }
    core::set_num_threads(threads);
}

TEST_CASE("x-flip mirrors image and mask together and is off by default") {
    temp_dir dir;
    const auto files = write_set(dir.path, 5);
    auto o = options();
    o.valid_region = data::from_files{[](const fs::path& p) { return p.parent_path() / "regions" / p.filename(); }};
    data::background_loader plain(data::background_sources(files), o, {.batch_size = 5, .seed = 2});
    const auto all = plain.load_all();
    const auto b0 = next_batch(plain);
    // Without flips every mask has its set columns on the left.
    for (int k = 0; k < 5; ++k) {
        CHECK(b0.masks(k, 0, 3, 0) == 1.0f);
        CHECK(b0.masks(k, 0, 3, 7) == -1.0f);
    }

    data::background_loader flipped(data::background_sources(files), o, {.batch_size = 5, .seed = 2, .x_flip = true});
    int flips = 0, same = 0;
    for (int b = 0; b < 6; ++b) {
        const auto bt = next_batch(flipped);
        for (int k = 0; k < 5; ++k) {
            const bool mask_flipped = bt.masks(k, 0, 3, 7) == 1.0f;
            CHECK(mask_flipped != (bt.masks(k, 0, 3, 0) == 1.0f));
            // Find the sample: the image equals some reference image, mirrored iff its mask is.
            int matches = 0;
            for (core::index_t s = 0; s < 5; ++s) {
                bool eq = true;
                for (int y = 0; y < 8 && eq; ++y)
                    for (int x = 0; x < 8 && eq; ++x)
                        eq = bt.images(k, 0, y, x) == all.images(s, 0, y, mask_flipped ? 7 - x : x) &&
                             bt.masks(k, 0, y, x) == all.masks(s, 0, y, mask_flipped ? 7 - x : x);
                matches += eq;
            }
            CHECK(matches == 1);
            (mask_flipped ? flips : same) += 1;
        }
    }
    CHECK(flips > 5);
    CHECK(same > 5);
}

TEST_CASE("from_files regions per source, and the geometry of preprocess_mask") {
    temp_dir dir;
    const auto files = write_set(dir.path, 4);
    std::vector<data::background_source> sources;
    for (const auto& f : files) sources.push_back({f, f.parent_path() / "regions" / f.filename()});
    auto o = options();
    o.valid_region = data::from_files{};
    const auto set = data::load_background_set(sources, o);
    REQUIRE(set.masks.shape() == core::shape{4, 1, 8, 8});
    for (int i = 0; i < 4; ++i) {
        const auto want = data::preprocess_mask(data::read_mask(sources[i].valid_region), o.preprocess);
        for (int p = 0; p < 64; ++p) CHECK(set.masks[i * 64 + p] == (want[p] ? 1.0f : -1.0f));
    }
    // Without a per-source file or a mask_path function, from_files is a configuration error.
    CHECK_THROWS_WITH_AS(data::background_loader(data::background_sources(files), o),
                         doctest::Contains("img000.png: expected a valid-region mask file"), imbdef::error);
}

TEST_CASE("grey and RGB files together follow the data as RGB, equal to asking for RGB") {
    temp_dir dir;
    data::write_png(dir.path / "a.png", pattern(0, 1));
    data::write_png(dir.path / "b.png", pattern(1, 3));
    data::write_png(dir.path / "c.png", pattern(2, 2));
    auto o = options();
    const data::loader_options lo{.batch_size = 3, .seed = 9, .x_flip = true};
    data::background_loader follow(dir.path, o, lo);
    CHECK(follow.channels() == 3);
    o.preprocess.channels = 3;
    data::loader_options nocache = lo;
    nocache.cache_bytes = 0;
    data::background_loader rgb(dir.path, o, nocache);
    for (int i = 0; i < 3; ++i) CHECK(next_batch(follow) == next_batch(rgb));
    o.preprocess.channels = 1;
    data::background_loader grey(dir.path, o, lo);
    CHECK(grey.channels() == 1);
}

TEST_CASE("a dataset's defect-free images, from its index or its folder") {
    temp_dir dir;
    fs::create_directories(dir.path / "train" / "good");
    fs::create_directories(dir.path / "test" / "scratch");
    fs::create_directories(dir.path / "ground_truth" / "scratch");
    for (int i = 0; i < 3; ++i) data::write_png(dir.path / "train" / "good" / (std::to_string(i) + ".png"), pattern(i));
    data::write_png(dir.path / "test" / "scratch" / "0.png", pattern(9));
    data::write_png_mask(dir.path / "ground_truth" / "scratch" / "0_mask.png", xt::xtensor<std::uint8_t, 2>::from_shape({12, 10}));
    const auto index = data::scan_dataset(dir.path);
    data::background_loader from_index(index, options(), {.batch_size = 2});
    data::background_loader from_folder(dir.path, options(), {.batch_size = 2});
    CHECK(from_index.size() == 3);
    CHECK(from_index.files() == from_folder.files());
    CHECK(next_batch(from_index) == next_batch(from_folder));
}

TEST_CASE("bad files: the first stops construction, or each is skipped and reported") {
    temp_dir dir;
    const auto good = write_set(dir.path, 3);
    write_bytes(dir.path / "img001b.png", {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'});
    auto bytes = read_bytes(good[2]);
    bytes.resize(bytes.size() / 2);
    write_bytes(dir.path / "img002b.png", bytes);  // truncated PNG

    const auto o = options();
    CHECK_THROWS_WITH_AS(data::background_loader(dir.path, o), doctest::Contains("img001b.png"), imbdef::error);

    auto skip = o;
    skip.skip_bad_files = true;
    std::vector<fs::path> reported;
    skip.on_skip = [&](const data::skipped_file& f) { reported.push_back(f.path); };
    data::background_loader l(dir.path, skip, {.batch_size = 2});
    CHECK(l.size() == 3);
    REQUIRE(l.skipped().size() == 2);
    CHECK(l.skipped()[0].path == dir.path / "img001b.png");
    CHECK(l.skipped()[0].reason.find("img001b.png") != std::string::npos);
    CHECK(l.skipped()[1].path == dir.path / "img002b.png");
    CHECK(l.skipped()[1].reason.find("truncated") != std::string::npos);
    CHECK(reported == std::vector<fs::path>{dir.path / "img001b.png", dir.path / "img002b.png"});
    CHECK(l.files() == good);
    (void)next_batch(l);

    // load_background_set reports the same way.
    const auto set = data::load_background_set(dir.path, skip);
    CHECK(set.images.size(0) == 3);
    CHECK(set.skipped.size() == 2);
}

TEST_CASE("no usable image is an error naming the folder") {
    temp_dir dir;
    fs::create_directories(dir.path / "empty");
    CHECK_THROWS_WITH_AS(data::background_loader(dir.path / "empty", options()),
                         doctest::Contains(((dir.path / "empty").string() + ": expected at least one usable image, found no image files").c_str()),
                         imbdef::error);
    fs::create_directories(dir.path / "bad");
    write_bytes(dir.path / "bad" / "x.png", {0x89, 'P', 'N', 'G', 1, 2, 3, 4, 5, 6});
    auto skip = options();
    skip.skip_bad_files = true;
    CHECK_THROWS_WITH_AS(data::background_loader(dir.path / "bad", skip),
                         doctest::Contains(((dir.path / "bad").string() + ": expected at least one usable image, found none: all 1 files were skipped").c_str()),
                         imbdef::error);
    CHECK_THROWS_WITH_AS(data::background_loader(std::vector<data::background_source>{}, options()),
                         doctest::Contains("an empty file list"), imbdef::error);
    const auto files = write_set(dir.path, 1);
    auto o = options();
    o.preprocess.resolution = 0;
    CHECK_THROWS_WITH_AS(data::background_loader(data::background_sources(files), o), doctest::Contains("resolution 0"),
                         imbdef::error);
    CHECK_THROWS_WITH_AS(data::background_loader(data::background_sources(files), options(), {.batch_size = 0}),
                         doctest::Contains("batch size"), imbdef::error);
    data::background_loader l(data::background_sources(files), options(), {.batch_size = 2});
    core::tensor<float> wrong(core::shape{2, 3, 8, 8});
    CHECK_THROWS_WITH_AS(l.next(wrong), doctest::Contains("expected shape [2, 1, 8, 8], found [2, 3, 8, 8]"), imbdef::error);
}

TEST_CASE("an error on the worker is rethrown by next() naming the file, until seek()") {
    temp_dir dir;
    const auto files = write_set(dir.path, 3);
    const auto saved = read_bytes(files[1]);
    data::background_loader l(data::background_sources(files), options(),
                              {.batch_size = 3, .prefetch = 1, .cache_bytes = 0});
    write_bytes(files[1], {'b', 'r', 'o', 'k', 'e', 'n'});
    // With one buffer, at most batch 0 was decoded before the file broke; batch 1 was not.
    bool threw = false;
    for (int i = 0; i < 2 && !threw; ++i) {
        try {
            (void)next_batch(l);
        } catch (const imbdef::error& e) {
            threw = true;
            CHECK(std::string(e.what()).find(files[1].string()) != std::string::npos);
        }
    }
    CHECK(threw);
    CHECK_THROWS_AS(next_batch(l), imbdef::error);
    write_bytes(files[1], saved);
    const auto at = l.position();
    l.seek(at);
    (void)next_batch(l);
    CHECK(l.position() == at + 1);
}

TEST_CASE("the destructor returns promptly while the worker waits or decodes") {
    temp_dir dir;
    const auto files = write_set(dir.path, 4);
    const auto start = std::chrono::steady_clock::now();
    {
        data::background_loader l(data::background_sources(files), options(), {.batch_size = 2, .prefetch = 2});
        (void)next_batch(l);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the queue is full: the worker waits
    }
    {
        auto o = options(256);  // enlarging 12 -> 256 without a cache: the worker is busy decoding
        data::background_loader l(data::background_sources(files), o, {.batch_size = 64, .cache_bytes = 0});
    }
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("real data: magnetic-tile MT_Free at 64, grey" * doctest::test_suite("real-data")) {
    const char* env = std::getenv("IMBDEF_DATA_DIR");
    const fs::path root = env ? fs::path(env) : fs::path(IMBDEF_SHARED_DATA_DIR);
    if (!fs::exists(root / "magnetic-tile")) {
        std::printf("no real data at %s: skipped\n", root.string().c_str());
        return;
    }
    std::vector<fs::path> jpgs;
    for (const auto& e : fs::directory_iterator(root / "magnetic-tile" / "MT_Free" / "Imgs"))
        if (e.path().extension() == ".jpg") jpgs.push_back(e.path());
    std::sort(jpgs.begin(), jpgs.end());
    data::background_options o;
    o.preprocess = {.resolution = 64, .channels = 1};
    data::background_loader l(data::background_sources(jpgs), o, {.batch_size = 32, .seed = 1, .x_flip = true});
    CHECK(l.size() == 666);
    CHECK(l.skipped().empty());
    CHECK(l.channels() == 1);
    CHECK(l.resolution() == 64);
    double sum = 0, valid = 0;
    float lo = 1, hi = -1;
    std::size_t not_binary = 0;
    for (int b = 0; b < 25; ++b) {  // 800 samples: across the first epoch boundary
        const auto bt = next_batch(l);
        for (float v : bt.images) {
            lo = std::min(lo, v);
            hi = std::max(hi, v);
            sum += v;
        }
        for (float m : bt.masks) {
            not_binary += m != 1.0f && m != -1.0f;
            valid += m > 0;
        }
    }
    CHECK(not_binary == 0);
    CHECK(lo >= -1.0f);
    CHECK(hi <= 1.0f);
    CHECK(hi - lo > 0.5f);  // real contrast, not a constant
    const double mean = sum / (25.0 * 32 * 64 * 64);
    CHECK(mean > -0.9);
    CHECK(mean < 0.5);
    CHECK(valid / (25.0 * 32 * 64 * 64) > 0.5);  // tiles are mostly surface
    // The dataset index names the same files (only its defect-free class).
    const auto from_index = data::background_sources(data::scan_dataset(root / "magnetic-tile"));
    REQUIRE(from_index.size() == 666);
    for (std::size_t i = 0; i < 666; ++i) CHECK(from_index[i].image == l.files()[i]);
}
