// Image files: round trips for every supported layout, 16-bit input, and a clear error naming the
// file for everything that is not a good image.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <imbdef/data/image_io.hpp>

#include "../support/file_bytes.hpp"
#include "../support/temp_dir.hpp"

using imbdef::test_support::read_bytes;
using imbdef::test_support::temp_dir;
using imbdef::test_support::write_bytes;

namespace fs = std::filesystem;
using namespace imbdef;

namespace {


xt::xtensor<std::uint8_t, 3> pattern(std::size_t h, std::size_t w, std::size_t c) {
    auto im = xt::xtensor<std::uint8_t, 3>::from_shape({h, w, c});
    for (std::size_t i = 0; i < im.size(); ++i) im.data()[i] = static_cast<std::uint8_t>((i * 37 + 11) % 256);
    return im;
}

std::string error_of(const fs::path& p) {
    try {
        (void)data::read_image(p);
    } catch (const imbdef::error& e) {
        return e.what();
    }
    return "";
}

// A 2 x 2 16-bit greyscale PNG holding 0, 65535, 32768, 1000.
const std::vector<unsigned char> png16 = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x00, 0x00, 0x02, 0x10, 0x00, 0x00, 0x00, 0x00, 0x07, 0x4d, 0x8e, 0xbb, 0x00, 0x00, 0x00, 0x12, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x60, 0xf8, 0xff, 0x9f, 0xa1, 0x81, 0x81, 0xf9, 0x05, 0x00, 0x0f, 0xeb,
    0x03, 0x6a, 0xbb, 0xc4, 0x3f, 0x87, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};

}  // namespace

TEST_CASE("PNG round trip for grey, grey + alpha, RGB and RGBA") {
    temp_dir dir;
    for (std::size_t c = 1; c <= 4; ++c) {
        const auto im = pattern(5, 7, c);
        const fs::path p = dir.path / ("im" + std::to_string(c) + ".png");
        data::write_png(p, im);
        const auto info = data::probe_image(p);
        CHECK(info.width == 7);
        CHECK(info.height == 5);
        CHECK(info.channels == static_cast<int>(c));
        CHECK(info.bit_depth == 8);
        const auto back = data::read_image(p);
        REQUIRE(back.pixels.shape()[2] == c);
        CHECK(data::to_u8(back.pixels) == im);
    }
    CHECK(fs::directory_iterator(dir.path) != fs::directory_iterator());
    for (const auto& entry : fs::directory_iterator(dir.path))  // no temporaries left behind
        CHECK(entry.path().extension() == ".png");
}

TEST_CASE("16-bit PNG is read at full precision") {
    temp_dir dir;
    write_bytes(dir.path / "deep.png", png16);
    const auto im = data::read_image(dir.path / "deep.png");
    CHECK(im.info.bit_depth == 16);
    CHECK(im.pixels(0, 0, 0) == 0.0f);
    CHECK(im.pixels(0, 1, 0) == 1.0f);
    CHECK(im.pixels(1, 0, 0) == doctest::Approx(32768.0 / 65535.0));
    CHECK(im.pixels(1, 1, 0) == doctest::Approx(1000.0 / 65535.0));
    const auto mask = data::read_mask(dir.path / "deep.png");
    CHECK(mask(0, 0) == 0);
    CHECK(mask(0, 1) == 255);
    CHECK(mask(1, 0) == 255);  // 32768 is the 16-bit 128
    CHECK(mask(1, 1) == 0);
}

TEST_CASE("JPEG and BMP are read") {
    temp_dir dir;
    auto smooth = xt::xtensor<std::uint8_t, 3>::from_shape({16, 16, 3});
    for (std::size_t y = 0; y < 16; ++y)
        for (std::size_t x = 0; x < 16; ++x)
            for (std::size_t k = 0; k < 3; ++k) smooth(y, x, k) = static_cast<std::uint8_t>(40 + 8 * x + 4 * y + 20 * k);
    const fs::path jpg = dir.path / "a.jpg", bmp = dir.path / "a.bmp";
    REQUIRE(stbi_write_jpg(jpg.c_str(), 16, 16, 3, smooth.data(), 95));
    REQUIRE(stbi_write_bmp(bmp.c_str(), 16, 16, 3, smooth.data()));
    const auto j = data::read_image(jpg);
    CHECK(j.info.format == data::file_format::jpeg);
    double worst = 0;
    for (std::size_t i = 0; i < smooth.size(); ++i)
        worst = std::max(worst, std::abs(j.pixels.data()[i] * 255.0 - smooth.data()[i]));
    CHECK(worst < 16);  // lossy (chroma subsampled), but close on a smooth ramp
    const auto b = data::read_image(bmp);
    CHECK(b.info.format == data::file_format::bmp);
    CHECK(data::to_u8(b.pixels) == smooth);
}

TEST_CASE("masks are binarised at 128 on the brightest colour channel") {
    temp_dir dir;
    auto m = xt::xtensor<std::uint8_t, 3>::from_shape({1, 4, 2});  // grey + alpha
    const std::uint8_t values[] = {127, 255, 128, 0, 200, 0, 0, 255};
    std::copy(std::begin(values), std::end(values), m.data());
    data::write_png(dir.path / "m.png", m);
    const auto mask = data::read_mask(dir.path / "m.png");
    CHECK(mask(0, 0) == 0);    // 127, alpha ignored
    CHECK(mask(0, 1) == 255);  // 128
    CHECK(mask(0, 2) == 255);  // 200
    CHECK(mask(0, 3) == 0);
}

TEST_CASE("bad files are refused with an error naming the file") {
    temp_dir dir;
    const fs::path good = dir.path / "good.png";
    data::write_png(good, pattern(32, 32, 3));
    const auto bytes = read_bytes(good);

    CHECK(error_of(dir.path / "missing.png").find("missing.png: expected an existing file, found no such file") !=
          std::string::npos);
    write_bytes(dir.path / "empty.png", {});
    CHECK(error_of(dir.path / "empty.png").find("empty.png: expected an image file, found an empty file") != std::string::npos);
    write_bytes(dir.path / "notes.png", {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'});
    CHECK(error_of(dir.path / "notes.png").find("a PNG, JPEG or BMP file") != std::string::npos);
    write_bytes(dir.path / "cut.png", std::vector<unsigned char>(bytes.begin(), bytes.begin() + static_cast<long>(bytes.size() / 2)));
    CHECK(error_of(dir.path / "cut.png").find("cut.png: expected a complete file, found a truncated file") !=
          std::string::npos);
    auto corrupt = bytes;
    for (std::size_t i = 40; i < 80; ++i) corrupt[i] ^= 0x5A;  // inside the pixel data; the end marker intact
    write_bytes(dir.path / "corrupt.png", corrupt);
    CHECK(error_of(dir.path / "corrupt.png").find("corrupt.png: expected a decodable PNG file, found a corrupt file") !=
          std::string::npos);

    auto smooth = pattern(16, 16, 1);
    const fs::path jpg = dir.path / "full.jpg";
    REQUIRE(stbi_write_jpg(jpg.c_str(), 16, 16, 1, smooth.data(), 90));
    const auto jb = read_bytes(jpg);
    write_bytes(dir.path / "cut.jpg", std::vector<unsigned char>(jb.begin(), jb.end() - 40));
    CHECK(error_of(dir.path / "cut.jpg").find("cut.jpg: expected a complete file") != std::string::npos);
    CHECK(error_of(dir.path).find("not a regular file") != std::string::npos);
}

TEST_CASE("writing into a folder that cannot be written names the path and leaves nothing") {
    if (::geteuid() == 0) {
        // Root ignores permission bits; a path under a regular file fails for everyone.
        temp_dir dir;
        data::write_png(dir.path / "file.png", pattern(2, 2, 1));
        CHECK_THROWS_WITH_AS(data::write_png(dir.path / "file.png" / "inside.png", pattern(2, 2, 1)),
                             doctest::Contains("inside.png: expected a writable location"), imbdef::error);
        return;
    }
    temp_dir dir;
    fs::permissions(dir.path, fs::perms::owner_read | fs::perms::owner_exec);
    CHECK_THROWS_WITH_AS(data::write_png(dir.path / "x.png", pattern(2, 2, 1)), doctest::Contains("x.png"), imbdef::error);
}

TEST_CASE("real data: magnetic tile images and masks decode and agree in size" * doctest::test_suite("real-data")) {
    const char* env = std::getenv("IMBDEF_DATA_DIR");
    const fs::path root = env ? fs::path(env) : fs::path(IMBDEF_SHARED_DATA_DIR);
    const fs::path dir = root / "magnetic-tile" / "MT_Blowhole" / "Imgs";
    if (!fs::exists(dir)) {
        std::printf("no real data at %s: skipped\n", dir.string().c_str());
        return;
    }
    int pairs = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (entry.path().extension() != ".jpg" || pairs >= 10) continue;
        const auto im = data::read_image(entry.path());
        const auto mask = data::read_mask(fs::path(entry.path()).replace_extension(".png"));
        CHECK(im.info.channels == 1);
        CHECK(mask.shape()[0] == im.pixels.shape()[0]);
        CHECK(mask.shape()[1] == im.pixels.shape()[1]);
        ++pairs;
    }
    CHECK(pairs == 10);
}
