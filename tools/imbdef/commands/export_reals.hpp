#pragma once
// imbdef export-reals: the real defect images with their masks, framed exactly as train-defect,
// copy-paste and evaluate read them (a square crop that follows the defect, resized to the
// model's resolution, channels as the model's), written as the same labelled dataset that
// `imbdef generate` writes. A detector trained on real defects then sees them the way the
// generator saw them, and its labels come from the masks by the same components rule (min area,
// 8-connectivity) as the generated and pasted sets: a comparison of real, real + generated and
// real + copy-paste differs only in the added images.
//
// Under --protocol one-third the training third of each class goes to split `train` and the
// held-out rest to split `test` (the detector's test images); under `all` everything is `train`.
// With --background the resolution and channels are the stage-1 checkpoint's, so the export
// matches the datasets made from it; otherwise --resolution and --channels (0: as the data).

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <imbdef/core/content_hash.hpp>
#include <imbdef/data/defect_set.hpp>
#include <imbdef/data/export.hpp>
#include <imbdef/train/background_sampler.hpp>

#include "real_defects.hpp"

namespace imbdef_cli {

struct export_reals_options {
    std::string data;              // the real defects with masks
    std::string out;
    std::string background;        // optional stage-1 checkpoint: its resolution and channels
    int resolution = 64;
    int channels = 0;              // 0: as the data
    std::string protocol = "one-third";
    std::string classes = "all";   // comma-separated class names, or all
    long long min_area = 16;       // components with fewer pixels get no label (as generate's)
    bool overwrite = false;
    bool skip_bad_files = false;
};

// "<class>-<file stem>" with every character outside [A-Za-z0-9_.-] as '_': stems repeat across
// classes (MVTec AD's 000.png in every defect folder), and the writer takes only such names. The
// sample's index makes names unique where sanitising made two equal.
inline std::string export_reals_name(const std::string& class_name, const std::filesystem::path& image, std::size_t index,
                                     std::set<std::string>& used) {
    std::string name = class_name + "-" + image.stem().string();
    for (char& ch : name)
        if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '-')) ch = '_';
    if (name.size() > 150) name.resize(150);
    if (!used.insert(name).second) {
        name += "-" + std::to_string(index);
        used.insert(name);
    }
    return name;
}

inline int run_export_reals(const export_reals_options& o) {
    namespace fs = std::filesystem;
    namespace core = imbdef::core;
    namespace data = imbdef::data;
    const std::string cmd = "imbdef export-reals";
    IMBDEF_REQUIRE(o.protocol == "all" || o.protocol == "one-third", cmd + " --protocol", "all or one-third", "'" + o.protocol + "'");
    IMBDEF_REQUIRE(o.min_area >= 1, cmd + " --min-area", "at least 1 pixel", std::to_string(o.min_area));

    int resolution = o.resolution, channels = o.channels;
    if (!o.background.empty()) {
        const auto backgrounds = imbdef::train::background_sampler::load(o.background);
        resolution = static_cast<int>(backgrounds.resolution());
        channels = static_cast<int>(backgrounds.image_channels());
    }
    IMBDEF_REQUIRE(resolution >= 8 && resolution <= 4096, cmd + " --resolution", "8 to 4096 pixels", std::to_string(resolution));
    IMBDEF_REQUIRE(channels == 0 || channels == 1 || channels == 3, cmd + " --channels", "0 (as the data), 1 or 3", std::to_string(channels));
    const data::defect_set set = choose_classes(open_real_defects(o.data, resolution, channels, o.skip_bad_files), o.classes, cmd + " --class");
    const auto split = data::split_defects(set, o.protocol == "all" ? data::split_protocol::all : data::split_protocol::one_third);

    data::export_options eo;
    eo.class_names = set.class_names;
    eo.overwrite = o.overwrite;
    eo.components.min_area = static_cast<core::index_t>(o.min_area);
    data::dataset_writer writer(o.out, eo);

    const core::index_t c = set.preprocess.channels, r = set.preprocess.resolution, plane = r * r;
    core::tensor<float> mask({r, r});
    std::vector<long long> written{0, 0};
    std::set<std::string> used_names;
    const auto sample_name = [&](const std::string& class_name, const std::filesystem::path& image, std::size_t index) {
        return export_reals_name(class_name, image, index, used_names);
    };
    const auto write_part = [&](const std::vector<std::size_t>& indices, const std::string& split_name, long long& n) {
        // One image at a time: a large held-out part never needs to sit in memory as tensors.
        for (const std::size_t index : indices) {
            const data::defect_tensors one = data::load_defect_tensors(set, {index});
            for (core::index_t q = 0; q < plane; ++q) mask[q] = one.masks[q] > 0 ? 1.0f : 0.0f;
            const auto& sample = set.samples[index];
            writer.add({.name = sample_name(set.class_names[static_cast<std::size_t>(sample.class_index)], sample.image, index),
                        .split = split_name,
                        .image = data::image_u8_from_chw(core::const_view<float>(one.images.data(), {c, r, r})),
                        .mask = data::mask_u8_from(mask.cview()),
                        .class_id = one.classes.front(),
                        .metadata = {{"source", sample.image.string()}, {"mask_source", sample.mask.string()}}});
            ++n;
        }
    };
    write_part(split.train, "train", written[0]);
    write_part(split.held_out, "test", written[1]);

    data::export_metadata meta;
    meta.run = {{"method", "real"},
                {"data", fs::absolute(o.data).string()},
                {"protocol", o.protocol},
                {"resolution", r},
                {"channels", c},
                {"train", written[0]},
                {"test", written[1]}};
    if (!o.background.empty()) {
        meta.run["background_checkpoint"] = fs::absolute(o.background).string();
        meta.run["background_checkpoint_hash"] = core::file_content_hash(o.background);
    }
    writer.finish(meta);
    std::printf("%lld training and %lld held-out real defects (%lld x %lld, %lld channel%s) in %s\n", written[0], written[1],
                static_cast<long long>(r), static_cast<long long>(r), static_cast<long long>(c), c == 1 ? "" : "s", o.out.c_str());
    return 0;
}

}  // namespace imbdef_cli
