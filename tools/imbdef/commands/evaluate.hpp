#pragma once
// imbdef evaluate: the stage-2 metric set (metrics/defect_metrics.hpp) of a labelled defect
// dataset against real defects, the same way for every method that writes one: `imbdef generate`
// from a stage-2 checkpoint, `imbdef copy-paste`, or anything else in that layout. So the numbers
// of docs/results.md compare like with like.
//
//   imbdef evaluate --dataset DIR --data REAL [--protocol one-third] [--against train|held-out|all]
//   imbdef evaluate --held-out-reals --data REAL --protocol one-third
//
// The reals are read as train-defect reads them (a square around each defect, at the dataset's size),
// split by --protocol; --against picks which reals are the reference: the training ones (default:
// what the generator saw), the held-out ones, or all. --held-out-reals measures the held-out real
// defects themselves against the reference: the floor that the sample sizes allow, a row every
// table of these metrics needs. Prints a table and writes JSON (--out, default DIR/metrics.json).

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <imbdef/core/atomic_file.hpp>
#include <imbdef/data/defect_set.hpp>
#include <imbdef/data/image_io.hpp>
#include <imbdef/data/preprocess.hpp>
#include <imbdef/metrics/defect_metrics.hpp>

#include "real_defects.hpp"

namespace imbdef_cli {

struct evaluate_options {
    std::string dataset;  // an exported dataset folder (manifest.json)
    std::string data;     // the real defects
    std::string protocol = "all";
    std::string against = "train";
    std::string out;      // default: <dataset>/metrics.json
    bool held_out_reals = false;
    bool skip_bad_files = false;  // as train-defect's: report unusable defects and go on without them
};

namespace evaluate_detail {

namespace fs = std::filesystem;
namespace core = imbdef::core;

// A dataset file (r x r, as the dataset's first image) as the metrics read it: an image as
// [channels, r, r] in [-1, 1] (data::preprocess_image at its own size: no resize), a mask as
// [r, r] in {0, 1} (data::read_mask, set at 128).
inline void require_size(const fs::path& file, std::size_t h, std::size_t w, core::index_t r) {
    IMBDEF_REQUIRE(h == static_cast<std::size_t>(r) && w == static_cast<std::size_t>(r), "imbdef evaluate " + file.string(),
                   "an image of the dataset's size " + std::to_string(r) + " x " + std::to_string(r),
                   std::to_string(w) + " x " + std::to_string(h));
}
inline void read_image_plane(const fs::path& file, core::index_t channels, core::index_t r, float* out) {
    const auto img = imbdef::data::read_image(file);
    require_size(file, img.pixels.shape()[0], img.pixels.shape()[1], r);
    imbdef::data::preprocess_image(img.pixels, {.resolution = r, .channels = static_cast<int>(channels)},
                                   core::view<float>(out, core::shape{channels, r, r}), file);
}
inline void read_mask_plane(const fs::path& file, core::index_t r, float* out) {
    const auto mask = imbdef::data::read_mask(file);
    require_size(file, mask.shape()[0], mask.shape()[1], r);
    std::transform(mask.begin(), mask.end(), out, [](std::uint8_t v) { return v != 0 ? 1.0f : 0.0f; });
}

struct loaded_dataset {
    core::tensor<float> images, masks, backgrounds, valid;
    std::vector<int> classes;
    std::vector<std::string> class_names;
    bool has_backgrounds = true, has_valid = true;
};

inline loaded_dataset load_dataset(const fs::path& root) {
    const fs::path manifest_path = root / "manifest.json";
    const std::string where = "imbdef evaluate --dataset " + root.string();
    std::ifstream in(manifest_path);
    IMBDEF_REQUIRE(in.good(), where, "a dataset folder with manifest.json (from imbdef generate or copy-paste)",
                   "no readable " + manifest_path.string());
    nlohmann::json m;
    try {
        m = nlohmann::json::parse(in);
    } catch (const std::exception& e) {
        throw imbdef::error(where, "a JSON manifest.json", e.what());
    }
    IMBDEF_REQUIRE(m.value("complete", false), where, "a complete dataset (manifest \"complete\": true)",
                   "an unfinished one: its writer was interrupted");
    loaded_dataset d;
    d.class_names = m.at("classes").get<std::vector<std::string>>();
    const auto& samples = m.at("samples");
    IMBDEF_REQUIRE(!samples.empty(), where, "at least one sample", "none");
    const auto first = imbdef::data::probe_image(root / samples[0].at("image").get<std::string>());
    IMBDEF_REQUIRE(first.width == first.height, where, "square images (evaluate before --size resizing)",
                   std::to_string(first.width) + " x " + std::to_string(first.height));
    const core::index_t n = static_cast<core::index_t>(samples.size()), r = first.width, c = first.channels >= 3 ? 3 : 1,
                        plane = r * r;
    d.images = core::tensor<float>({n, c, r, r});
    d.masks = core::tensor<float>({n, 1, r, r});
    d.backgrounds = core::tensor<float>({n, c, r, r});
    d.valid = core::tensor<float>({n, 1, r, r});
    for (core::index_t i = 0; i < n; ++i) {
        const auto& s = samples[static_cast<std::size_t>(i)];
        read_image_plane(root / s.at("image").get<std::string>(), c, r, d.images.data() + i * c * plane);
        read_mask_plane(root / s.at("mask").get<std::string>(), r, d.masks.data() + i * plane);
        if (s.contains("background"))
            read_image_plane(root / s["background"].get<std::string>(), c, r, d.backgrounds.data() + i * c * plane);
        else
            d.has_backgrounds = false;
        if (s.contains("valid_region"))
            read_mask_plane(root / s["valid_region"].get<std::string>(), r, d.valid.data() + i * plane);
        else
            d.has_valid = false;
        const int cls = s.value("class", 0);
        IMBDEF_REQUIRE(cls >= 0 && cls < static_cast<int>(d.class_names.size()), where + " sample " + s.value("name", std::string()),
                       "a class in [0, " + std::to_string(d.class_names.size()) + ")", std::to_string(cls));
        d.classes.push_back(cls);
    }
    return d;
}

inline std::string format(const std::optional<double>& v) {
    if (!v) return "-";
    char b[32];
    std::snprintf(b, sizeof b, "%.4g", *v);
    return b;
}

}  // namespace evaluate_detail

inline int run_evaluate(const evaluate_options& o) {
    namespace fs = std::filesystem;
    namespace core = imbdef::core;
    namespace data = imbdef::data;
    namespace metrics = imbdef::metrics;
    using namespace evaluate_detail;
    const std::string cmd = "imbdef evaluate";
    IMBDEF_REQUIRE(o.held_out_reals != !o.dataset.empty(), cmd, "exactly one of --dataset DIR and --held-out-reals",
                   o.held_out_reals ? "both" : "neither");
    IMBDEF_REQUIRE(o.protocol == "all" || o.protocol == "one-third", cmd + " --protocol", "all or one-third", "'" + o.protocol + "'");
    IMBDEF_REQUIRE(o.against == "train" || o.against == "held-out" || o.against == "all", cmd + " --against", "train, held-out or all",
                   "'" + o.against + "'");
    IMBDEF_REQUIRE(!(o.held_out_reals && o.protocol != "one-third"), cmd + " --held-out-reals", "--protocol one-third (a held-out part)",
                   "--protocol " + o.protocol);
    IMBDEF_REQUIRE(!(o.held_out_reals && o.against != "train"), cmd + " --held-out-reals", "--against train", "--against " + o.against);

    loaded_dataset generated;
    core::index_t r = 0, c = 0;
    if (!o.held_out_reals) {
        generated = load_dataset(o.dataset);
        r = generated.images.size(2);
        c = generated.images.size(1);
    }
    data::defect_set set = open_real_defects(o.data, r > 0 ? static_cast<int>(r) : 64, static_cast<int>(c), o.skip_bad_files);
    if (!o.held_out_reals) set = data::select_classes(set, generated.class_names, cmd + " --data " + o.data + " (the dataset's classes)");
    const auto split = data::split_defects(set, o.protocol == "all" ? data::split_protocol::all : data::split_protocol::one_third);
    IMBDEF_REQUIRE(o.against != "held-out" || !split.held_out.empty(), cmd + " --against held-out", "--protocol one-third",
                   "no held-out defects under --protocol " + o.protocol);
    std::vector<std::size_t> reference = o.against == "train" ? split.train : o.against == "held-out" ? split.held_out : split.train;
    if (o.against == "all") reference.insert(reference.end(), split.held_out.begin(), split.held_out.end());
    data::defect_tensors reals = data::load_defect_tensors(set, reference);
    const auto to_01 = [](core::tensor<float>& masks) {
        for (float& v : masks) v = v > 0 ? 1.0f : 0.0f;
    };
    to_01(reals.masks);  // {-1, 1} as loaded for training

    metrics::defect_metric_options mo;
    mo.class_names = set.class_names;
    metrics::defect_sample_set real_set{.images = reals.images.cview(), .masks = reals.masks.cview(), .classes = reals.classes};
    metrics::defect_metrics result;
    data::defect_tensors held;
    if (o.held_out_reals) {
        held = data::load_defect_tensors(set, split.held_out);
        to_01(held.masks);
        result = metrics::measure_defects({.images = held.images.cview(), .masks = held.masks.cview(), .classes = held.classes}, real_set, mo);
    } else {
        metrics::defect_sample_set g{.images = generated.images.cview(), .masks = generated.masks.cview(), .classes = generated.classes};
        if (generated.has_backgrounds) g.backgrounds = generated.backgrounds.cview();
        if (generated.has_valid) g.valid_regions = generated.valid.cview();
        result = metrics::measure_defects(g, real_set, mo);
    }

    nlohmann::json j = metrics::to_json(result);
    j["candidate"] = o.held_out_reals ? "held-out real defects" : fs::absolute(o.dataset).string();
    j["reference"] = {{"data", fs::absolute(o.data).string()}, {"protocol", o.protocol}, {"against", o.against}};
    const fs::path out = !o.out.empty() ? fs::path(o.out) : o.held_out_reals ? fs::path() : fs::path(o.dataset) / "metrics.json";
    if (!out.empty()) {
        const std::string text = j.dump(2) + "\n";
        imbdef::core::write_file_atomically(out, std::as_bytes(std::span(text)));
    }

    std::printf("%-14s %7s %7s %10s %9s %9s %9s %9s %9s\n", "class", "samples", "defects", "boundary", "crop_swd", "diversity",
                "pairwise", "out_reg", "align");
    const auto row = [](const std::string& name, const metrics::defect_metric_values& v) {
        std::printf("%-14s %7lld %7lld %10s %9s %9s %9s %9s %9s\n", name.c_str(), static_cast<long long>(v.samples),
                    static_cast<long long>(v.defects), format(v.boundary_transition).c_str(), format(v.crop_swd).c_str(),
                    format(v.diversity).c_str(), format(v.pairwise_diversity).c_str(), format(v.out_of_region).c_str(),
                    format(v.mask_alignment).c_str());
    };
    row("all", result.overall);
    for (const auto& pc : result.per_class) row(pc.name, pc.values);
    if (!out.empty()) std::printf("metrics: %s\n", out.c_str());
    return 0;
}

}  // namespace imbdef_cli
