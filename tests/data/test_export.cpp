// The detector-ready exporters: components (8-connectivity, min area, instance maps), YOLO
// boxes and polygons to the digit, COCO's compressed RLE against hand-computed strings, the COCO
// file and data.yaml as written, resizing, and the dataset writer on disk: its folder tree, its
// refusals and that a failure leaves no part of a sample behind.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <imbdef/data/export.hpp>

#include "../support/temp_dir.hpp"

using imbdef::test_support::temp_dir;
using namespace imbdef;
using namespace imbdef::data;
namespace fs = std::filesystem;

namespace {

using mask_t = xt::xtensor<std::uint8_t, 2>;
using map_t = xt::xtensor<std::int32_t, 2>;

mask_t blank(std::size_t h, std::size_t w) {
    mask_t m = mask_t::from_shape({h, w});
    m.fill(0);
    return m;
}

void fill_rect(mask_t& m, std::size_t x0, std::size_t y0, std::size_t x1, std::size_t y1, std::uint8_t v = 255) {
    for (std::size_t y = y0; y < y1; ++y)
        for (std::size_t x = x0; x < x1; ++x) m(y, x) = v;
}

std::vector<grid_point> points(std::initializer_list<std::pair<int, int>> xy) {
    std::vector<grid_point> out;
    for (const auto& [x, y] : xy) out.push_back({x, y});
    return out;
}

std::string read_text(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

export_sample make_sample(const std::string& name, const std::string& split, std::size_t h = 32, std::size_t w = 24) {
    export_sample s;
    s.name = name;
    s.split = split;
    s.image = xt::xtensor<std::uint8_t, 3>::from_shape({h, w, 3});
    for (std::size_t i = 0; i < s.image.size(); ++i) s.image.data()[i] = static_cast<std::uint8_t>(i % 251);
    s.mask = blank(h, w);
    fill_rect(s.mask, 2, 3, 8, 9);  // 6 x 6 = 36 px
    return s;
}

export_options options(std::vector<std::string> names, bool overwrite = false, yolo_task yolo = yolo_task::detect) {
    export_options o;
    o.class_names = std::move(names);
    o.overwrite = overwrite;
    o.yolo = yolo;
    return o;
}

std::vector<std::string> tree(const fs::path& root) {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(root))
        if (e.is_regular_file()) out.push_back(fs::relative(e.path(), root).generic_string());
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace

TEST_CASE("components are 8-connected, raster ordered, with boxes and areas") {
    mask_t m = blank(5, 6);
    m(0, 0) = m(1, 1) = m(2, 2) = 255;  // a diagonal: one component under 8-connectivity
    m(0, 4) = 1;                        // any non-zero value is set
    const component_set set = connected_components(m, 2, {.min_area = 1});
    REQUIRE(set.components.size() == 2);
    CHECK(set.components[0].area == 3);
    CHECK(set.components[0].box == pixel_box{0, 0, 3, 3});
    CHECK(set.components[0].class_id == 2);
    CHECK(set.components[1].area == 1);
    CHECK(set.components[1].box == pixel_box{4, 0, 5, 1});
    CHECK(set.labels(1, 1) == 1);
    CHECK(set.labels(0, 4) == 2);
    CHECK(set.dropped == 0);
}

TEST_CASE("components under min_area (default 16 px) are dropped and counted") {
    mask_t m = blank(20, 20);
    fill_rect(m, 0, 0, 4, 4);     // 16 px: kept
    fill_rect(m, 10, 10, 13, 15);  // 15 px: dropped
    const component_set set = connected_components(m);
    REQUIRE(set.components.size() == 1);
    CHECK(set.components[0].area == 16);
    CHECK(set.dropped == 1);
    CHECK(set.dropped_area == 15);
    CHECK(set.labels(12, 11) == 0);
    CHECK_THROWS_AS(connected_components(m, 0, {.min_area = 0}), imbdef::error);
    CHECK_THROWS_AS(connected_components(m, -1), imbdef::error);
}

TEST_CASE("instance maps: touching instances stay apart, a split instance gives one object per piece") {
    map_t inst = map_t::from_shape({4, 8}), cls = map_t::from_shape({4, 8});
    inst.fill(0);
    cls.fill(0);
    for (std::size_t y = 0; y < 4; ++y) {
        inst(y, 0) = 1, cls(y, 0) = 3;  // instance 1, class 2, left column
        inst(y, 1) = 2, cls(y, 1) = 1;  // instance 2, class 0, touching it
        inst(y, 7) = 1, cls(y, 7) = 3;  // instance 1 again, far right
    }
    const component_set set = instance_components(inst, cls, {.min_area = 1});
    REQUIRE(set.components.size() == 3);
    CHECK(set.components[0].instance == 1);
    CHECK(set.components[0].class_id == 2);
    CHECK(set.components[0].box == pixel_box{0, 0, 1, 4});
    CHECK(set.components[1].instance == 2);
    CHECK(set.components[1].class_id == 0);
    CHECK(set.components[2].instance == 1);
    CHECK(set.components[2].box == pixel_box{7, 0, 8, 4});

    map_t two_classes = cls;
    two_classes(3, 7) = 2;
    CHECK_THROWS_WITH_AS(instance_components(inst, two_classes), doctest::Contains("one class per instance"), imbdef::error);
    map_t no_class = cls;
    no_class(0, 0) = 0;
    CHECK_THROWS_AS(instance_components(inst, no_class), imbdef::error);
    CHECK_THROWS_AS(instance_components(inst, map_t::from_shape({4, 7})), imbdef::error);
}

TEST_CASE("YOLO detection labels: exact normalised numbers, one line per component, class first") {
    mask_t m = blank(20, 10);
    fill_rect(m, 2, 4, 6, 14);  // x 2..5, y 4..13: 40 px
    const component_set set = connected_components(m, 1);
    CHECK(yolo_detection_labels(set) == "1 0.400000 0.450000 0.400000 0.500000\n");
    fill_rect(m, 0, 16, 10, 20);  // the full bottom rows: 40 px
    CHECK(yolo_detection_labels(connected_components(m, 0)) ==
          "0 0.400000 0.450000 0.400000 0.500000\n0 0.500000 0.900000 1.000000 0.200000\n");
    CHECK(yolo_detection_labels(connected_components(blank(4, 4))).empty());
}

TEST_CASE("outlines: a rectangle gives its 4 corners, an L its 6, a line 4, a diagonal pinches") {
    mask_t rect = blank(20, 10);
    fill_rect(rect, 2, 4, 6, 14);
    CHECK(trace_outline(connected_components(rect), 0) == points({{2, 4}, {6, 4}, {6, 14}, {2, 14}}));

    mask_t ell = blank(7, 6);
    fill_rect(ell, 1, 1, 2, 5);  // the upright
    fill_rect(ell, 1, 4, 4, 5);  // the foot
    CHECK(trace_outline(connected_components(ell, 0, {.min_area = 1}), 0) ==
          points({{1, 1}, {2, 1}, {2, 4}, {4, 4}, {4, 5}, {1, 5}}));

    mask_t line = blank(5, 12);
    fill_rect(line, 3, 2, 10, 3);
    CHECK(trace_outline(connected_components(line, 0, {.min_area = 1}), 0) == points({{3, 2}, {10, 2}, {10, 3}, {3, 3}}));

    mask_t diagonal = blank(3, 3);
    diagonal(0, 0) = diagonal(1, 1) = 255;
    CHECK(trace_outline(connected_components(diagonal, 0, {.min_area = 1}), 0) ==
          points({{0, 0}, {1, 0}, {1, 1}, {2, 1}, {2, 2}, {1, 2}, {1, 1}, {0, 1}}));

    // A ring: the polygon is the outer boundary only (holes are not represented).
    mask_t ring = blank(6, 6);
    fill_rect(ring, 1, 1, 5, 5);
    fill_rect(ring, 2, 2, 4, 4, 0);
    CHECK(trace_outline(connected_components(ring, 0, {.min_area = 1}), 0) == points({{1, 1}, {5, 1}, {5, 5}, {1, 5}}));
}

TEST_CASE("YOLO segmentation labels: normalised pixel-corner polygons") {
    mask_t m = blank(20, 10);
    fill_rect(m, 2, 4, 6, 14);
    CHECK(yolo_segmentation_labels(connected_components(m, 3)) ==
          "3 0.200000 0.200000 0.600000 0.200000 0.600000 0.700000 0.200000 0.700000\n");
}

TEST_CASE("COCO RLE: column-major counts and the compressed string, against hand-computed values") {
    mask_t m = blank(3, 4);
    fill_rect(m, 1, 0, 3, 2);  // columns 1-2, rows 0-1
    const coco_rle r = encode_rle(m);
    CHECK(r.counts == std::vector<core::index_t>{3, 2, 1, 2, 4});
    CHECK(rle_to_string(r) == "32103");  // the last two are differences: 2 - 2, 4 - 1

    mask_t corner = blank(2, 2);
    corner(0, 1) = corner(1, 0) = corner(1, 1) = 1;
    CHECK(encode_rle(corner).counts == std::vector<core::index_t>{1, 3});
    CHECK(rle_to_string(encode_rle(corner)) == "13");
    CHECK(encode_rle(blank(2, 2)).counts == std::vector<core::index_t>{4});

    // Two 5-bit groups (40 - 5 = 35 = 3 + 1 * 32), and negative differences (4 - 10, 2 - 100).
    CHECK(rle_to_string({6, 8, {0, 5, 3, 40}}) == "053S1");
    CHECK(rle_to_string({1, 19, {2, 10, 3, 4}}) == "2:3J");
    CHECK(rle_to_string({1, 103, {0, 100, 1, 2}}) == "0T31nL");
    CHECK(rle_from_string("053S1", 6, 8).counts == std::vector<core::index_t>{0, 5, 3, 40});
    CHECK(rle_from_string("2:3J", 1, 19).counts == std::vector<core::index_t>{2, 10, 3, 4});
    CHECK(rle_from_string("0T31nL", 1, 103).counts == std::vector<core::index_t>{0, 100, 1, 2});

    CHECK_THROWS_WITH_AS(rle_from_string("32103", 3, 5), doctest::Contains("counts summing to 15"), imbdef::error);
    CHECK_THROWS_AS(rle_from_string("3 2", 3, 4), imbdef::error);
    CHECK_THROWS_AS(rle_from_string("S", 3, 4), imbdef::error);  // ends inside a count
}

TEST_CASE("COCO RLE round trip on an irregular mask, per component") {
    mask_t m = blank(37, 29);
    for (std::size_t y = 0; y < 37; ++y)
        for (std::size_t x = 0; x < 29; ++x) m(y, x) = ((x * 7 + y * 3) % 11 < 4 || (x > 20 && y > 30)) ? 255 : 0;
    const coco_rle r = encode_rle(m);
    const coco_rle back = rle_from_string(rle_to_string(r), 37, 29);
    CHECK(back == r);
    const mask_t decoded = decode_rle(back);
    for (std::size_t i = 0; i < m.size(); ++i) REQUIRE((decoded.data()[i] != 0) == (m.data()[i] != 0));

    const component_set set = connected_components(m, 0, {.min_area = 1});
    REQUIRE(!set.components.empty());
    for (std::size_t i = 0; i < set.components.size(); ++i) {
        const mask_t one = decode_rle(rle_from_string(rle_to_string(encode_rle(set, i)), 37, 29));
        CHECK(one == component_mask(set, i));
    }
}

TEST_CASE("COCO builder: structure, 1-based ids, pixel bbox, area as pixel count, each segmentation form") {
    mask_t m = blank(20, 10);
    fill_rect(m, 2, 4, 6, 14);
    fill_rect(m, 3, 6, 5, 8, 0);  // a hole: area 36
    const component_set set = connected_components(m, 1);
    for (const auto mode : {coco_segmentation::rle, coco_segmentation::uncompressed_rle, coco_segmentation::polygon}) {
        coco_builder coco({"scratch", "dent"}, mode);
        CHECK(coco.add_image("a.png", connected_components(blank(20, 10))) == 1);
        CHECK(coco.add_image("b.png", set) == 2);
        const nlohmann::json j = nlohmann::json::parse(coco.to_json().dump());
        CHECK(j.at("info").is_object());
        CHECK(j.at("images").size() == 2);
        CHECK(j.at("images")[1] == nlohmann::json{{"id", 2}, {"file_name", "b.png"}, {"width", 10}, {"height", 20}});
        CHECK(j.at("categories")[0].at("id") == 1);
        CHECK(j.at("categories")[1].at("name") == "dent");
        REQUIRE(j.at("annotations").size() == 1);
        const auto& a = j.at("annotations")[0];
        CHECK(a.at("id") == 1);
        CHECK(a.at("image_id") == 2);
        CHECK(a.at("category_id") == 2);
        CHECK(a.at("bbox") == nlohmann::json{2, 4, 4, 10});
        CHECK(a.at("area") == 36);
        CHECK(a.at("iscrowd") == 0);
        const auto& seg = a.at("segmentation");
        if (mode == coco_segmentation::polygon) {
            CHECK(seg == nlohmann::json{{2, 4, 6, 4, 6, 14, 2, 14}});
        } else {
            CHECK(seg.at("size") == nlohmann::json{20, 10});
            const coco_rle r = mode == coco_segmentation::rle
                                   ? rle_from_string(seg.at("counts").get<std::string>(), 20, 10)
                                   : coco_rle{20, 10, seg.at("counts").get<std::vector<core::index_t>>()};
            CHECK(decode_rle(r) == component_mask(set, 0));  // exact, hole included
        }
    }
    coco_builder coco({"only"});
    CHECK_THROWS_AS(coco.add_image("b.png", set), imbdef::error);  // class 1 has no name
    CHECK_THROWS_AS(coco_builder({}), imbdef::error);
}

TEST_CASE("data.yaml: Ultralytics keys, quoted names, val falls back to train") {
    data_yaml_spec spec;
    spec.root = "/data/out";
    spec.names = {"scratch", "say \"hi\""};
    CHECK(data_yaml_text(spec) ==
          "# Ultralytics dataset written by imbdef: yolo train data=<this file>\n"
          "path: \"/data/out\"\n"
          "train: \"images/train\"\n"
          "val: \"images/val\"\n"
          "nc: 2\n"
          "names:\n"
          "  0: \"scratch\"\n"
          "  1: \"say \\\"hi\\\"\"\n");
    spec.val.clear();
    spec.test = "images/test";
    const std::string text = data_yaml_text(spec);
    CHECK(text.find("val: \"images/train\"  # no validation images") != std::string::npos);
    CHECK(text.find("test: \"images/test\"\n") != std::string::npos);
    spec.names.clear();
    CHECK_THROWS_AS(data_yaml_text(spec), imbdef::error);
}

TEST_CASE("resize: images area/bicubic, masks nearest, boxes from the resized mask") {
    export_sample s = make_sample("r", "train", 8, 8);
    s.image.fill(100);
    s.mask = blank(8, 8);
    fill_rect(s.mask, 2, 2, 6, 6);
    s.valid_region = blank(8, 8);
    s.valid_region->fill(255);
    const export_sample up = resize_sample(s, 16, 16);
    CHECK(up.image.shape() == std::array<std::size_t, 3>{16, 16, 3});
    CHECK(std::all_of(up.image.begin(), up.image.end(), [](std::uint8_t v) { return v == 100; }));
    CHECK(connected_components(up.mask).components.at(0).box == pixel_box{4, 4, 12, 12});
    CHECK(up.valid_region->shape() == std::array<std::size_t, 2>{16, 16});
    const export_sample down = resize_sample(s, 4, 4);
    CHECK(std::all_of(down.image.begin(), down.image.end(), [](std::uint8_t v) { return v == 100; }));
    CHECK(connected_components(down.mask, 0, {.min_area = 1}).components.at(0).box == pixel_box{1, 1, 3, 3});
    const export_sample odd = resize_sample(s, 6, 10);
    CHECK(odd.mask.shape() == std::array<std::size_t, 2>{6, 10});
    CHECK(odd.name == "r");
    CHECK_THROWS_AS(resize_sample(s, 0, 4), imbdef::error);
}

TEST_CASE("dataset writer: the folder tree, labels, COCO per split, data.yaml and the manifest") {
    temp_dir tmp("imbdef_export");
    const fs::path root = tmp / "out";
    dataset_writer writer(root, options({"scratch", "dent"}));
    CHECK(nlohmann::json::parse(read_text(root / "manifest.json")).at("complete") == false);

    export_sample a = make_sample("a", "train");
    a.metadata = {{"seed", 11}};
    a.background = a.image;
    a.valid_region = blank(32, 24);
    writer.add(a);
    export_sample b = make_sample("b", "val");
    b.instance = map_t::from_shape({32, 24});
    b.class_map = map_t::from_shape({32, 24});
    b.instance->fill(0);
    b.class_map->fill(0);
    b.mask = blank(32, 24);
    for (std::size_t y = 3; y < 9; ++y)
        for (std::size_t x = 2; x < 8; ++x) (*b.instance)(y, x) = 1, (*b.class_map)(y, x) = 2, b.mask(y, x) = 255;
    for (std::size_t y = 20; y < 30; ++y)
        for (std::size_t x = 10; x < 20; ++x) (*b.instance)(y, x) = 2, (*b.class_map)(y, x) = 1, b.mask(y, x) = 255;
    writer.add(b);
    export_sample empty = make_sample("c", "train");
    empty.mask = blank(32, 24);
    writer.add(empty);
    CHECK_THROWS_WITH_AS(writer.add(make_sample("a", "val")), doctest::Contains("a name not used before"), imbdef::error);
    CHECK_THROWS_AS(writer.add(make_sample("../x", "train")), imbdef::error);
    CHECK_THROWS_AS(writer.add(make_sample("d", "holdout")), imbdef::error);
    export_sample unnamed_class = make_sample("e", "train");
    unnamed_class.class_id = 2;
    CHECK_THROWS_WITH_AS(writer.add(unnamed_class), doctest::Contains("class ids below 2"), imbdef::error);

    const nlohmann::json manifest = writer.finish({.run = {{"checkpoint_sha256", "abc"}, {"seeds", {1, 2}}},
                                                   .rejected = {{"empty_mask", 3}, {"out_of_region", 1}}});
    CHECK(tree(root) == std::vector<std::string>{
                            "annotations/train.json", "annotations/val.json", "backgrounds/train/a.png",
                            "classes/val/b.png", "data.yaml", "images/train/a.png", "images/train/c.png",
                            "images/val/b.png", "instances/val/b.png", "labels/train/a.txt", "labels/train/c.txt",
                            "labels/val/b.txt", "manifest.json", "masks/train/a.png", "masks/train/c.png",
                            "masks/val/b.png", "valid_regions/train/a.png"});
    CHECK(read_text(root / "labels/train/a.txt") == "0 0.208333 0.187500 0.250000 0.187500\n");
    CHECK(read_text(root / "labels/train/c.txt").empty());
    CHECK(read_text(root / "labels/val/b.txt") ==
          "1 0.208333 0.187500 0.250000 0.187500\n0 0.625000 0.781250 0.416667 0.312500\n");
    CHECK(read_mask(root / "masks/val/b.png") == b.mask);
    CHECK(read_image(root / "images/train/a.png").info.channels == 3);
    CHECK(read_image(root / "instances/val/b.png").pixels(25, 15, 0) == doctest::Approx(2.0 / 255));

    const nlohmann::json val = nlohmann::json::parse(read_text(root / "annotations/val.json"));
    CHECK(val.at("images")[0].at("file_name") == "b.png");
    CHECK(val.at("annotations").size() == 2);
    CHECK(val.at("annotations")[1].at("bbox") == nlohmann::json{10, 20, 10, 10});
    CHECK(val.at("annotations")[1].at("area") == 100);
    CHECK(val.at("annotations")[1].at("category_id") == 1);
    CHECK(val.at("annotations")[0].at("segmentation").at("counts").is_string());
    CHECK(nlohmann::json::parse(read_text(root / "annotations/train.json")).at("images").size() == 2);

    const std::string yaml = read_text(root / "data.yaml");
    CHECK(yaml.find("path: \"" + fs::absolute(root).lexically_normal().generic_string() + "\"\n") != std::string::npos);
    CHECK(yaml.find("val: \"images/val\"\n") != std::string::npos);
    CHECK(yaml.find("nc: 2\n") != std::string::npos);

    const nlohmann::json m = nlohmann::json::parse(read_text(root / "manifest.json"));
    CHECK(m == manifest);
    CHECK(m.at("complete") == true);
    CHECK(m.at("classes") == nlohmann::json{"scratch", "dent"});
    CHECK(m.at("rejected").at("empty_mask") == 3);
    CHECK(m.at("run").at("checkpoint_sha256") == "abc");
    CHECK(m.at("counts").at("train") ==
          nlohmann::json{{"images", 2}, {"annotations", 1}, {"negatives", 1}, {"dropped_components", 0}});
    CHECK(m.at("samples").size() == 3);
    CHECK(m.at("samples")[0].at("metadata").at("seed") == 11);
    CHECK(m.at("samples")[0].at("background") == "backgrounds/train/a.png");
    CHECK(m.at("options").at("min_area") == 16);
    CHECK_THROWS_AS(writer.add(make_sample("z", "train")), imbdef::error);
    CHECK_THROWS_AS(writer.finish(), imbdef::error);
}

TEST_CASE("dataset writer: an interrupted run has complete samples and a manifest that says so") {
    temp_dir tmp("imbdef_export");
    {
        dataset_writer writer(tmp.path, options({"scratch"}, false, yolo_task::segment));
        writer.add(make_sample("a", "train"));
    }  // dropped without finish()
    CHECK(nlohmann::json::parse(read_text(tmp / "manifest.json")).at("complete") == false);
    CHECK(!fs::exists(tmp / "data.yaml"));
    CHECK(read_text(tmp / "labels/train/a.txt") ==
          "0 0.083333 0.093750 0.333333 0.093750 0.333333 0.281250 0.083333 0.281250\n");
}

TEST_CASE("dataset writer: refuses a non-empty folder unless told to overwrite, which keeps foreign files") {
    temp_dir tmp("imbdef_export");
    {
        dataset_writer writer(tmp.path, options({"scratch"}));
        writer.add(make_sample("old", "train"));
        writer.finish();
    }
    std::ofstream(tmp / "notes.txt") << "mine";
    CHECK_THROWS_WITH_AS(dataset_writer(tmp.path, options({"scratch"})),
                         doctest::Contains("expected an empty folder (or overwrite = true), found a folder that is not empty"),
                         imbdef::error);
    CHECK(fs::exists(tmp / "images/train/old.png"));  // untouched by the refusal
    dataset_writer writer(tmp.path, options({"scratch"}, true));
    CHECK(!fs::exists(tmp / "images/train/old.png"));
    CHECK(fs::exists(tmp / "notes.txt"));
    std::ofstream(tmp / "file") << "x";
    CHECK_THROWS_WITH_AS(dataset_writer(tmp / "file", options({"scratch"})), doctest::Contains("a folder"),
                         imbdef::error);
    CHECK_THROWS_AS(dataset_writer(tmp / "new", {}), imbdef::error);  // no class names
}

TEST_CASE("dataset writer: an unwritable folder is a clear error") {
    temp_dir tmp("imbdef_export");
    std::ofstream(tmp / "file") << "x";
    CHECK_THROWS_WITH_AS(dataset_writer(tmp / "file" / "out", options({"scratch"})),
                         doctest::Contains("expected a folder that can be created"), imbdef::error);
    if (::geteuid() == 0) return;  // permissions do not bind root: the rest needs another user
    fs::create_directories(tmp / "locked");
    fs::permissions(tmp / "locked", fs::perms::owner_read | fs::perms::owner_exec);
    CHECK_THROWS_WITH_AS(dataset_writer(tmp / "locked" / "out", options({"scratch"})),
                         doctest::Contains("locked/out"), imbdef::error);
    CHECK_THROWS_WITH_AS(dataset_writer(tmp / "locked", options({"scratch"})),
                         doctest::Contains("expected a folder that can be created"), imbdef::error);
    CHECK(tree(tmp / "locked").empty());
}

TEST_CASE("dataset writer: a sample whose writing fails leaves none of its files") {
    temp_dir tmp("imbdef_export");
    const fs::path root = tmp / "out";
    dataset_writer writer(root, options({"scratch"}));
    writer.add(make_sample("good", "train"));
    // A folder where the image should go makes the last write of the sample fail, as a full or
    // read-only disk would (and unlike permissions, also for root).
    fs::create_directories(root / "images/train/bad.png");
    export_sample bad = make_sample("bad", "train");
    bad.background = bad.image;
    CHECK_THROWS_WITH_AS(writer.add(bad), doctest::Contains("images/train/bad.png"), imbdef::error);
    fs::remove(root / "images/train/bad.png");
    // The image is written last; its failure removed the mask, background and label written before.
    CHECK(tree(root) == std::vector<std::string>{"images/train/good.png", "labels/train/good.txt", "manifest.json",
                                                 "masks/train/good.png"});
    writer.add(make_sample("bad", "train"));  // the name was not taken by the failure
    writer.finish();
    CHECK(nlohmann::json::parse(read_text(root / "manifest.json")).at("samples").size() == 2);
}
