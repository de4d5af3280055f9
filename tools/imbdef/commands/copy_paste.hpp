#pragma once
// imbdef copy-paste: the baseline a defect generator must beat, written as the same labelled
// dataset `imbdef generate` writes (images, masks, backgrounds, valid regions, YOLO, COCO,
// data.yaml, manifest), so that `imbdef evaluate` and a detector read both the same way.
//
// Sample i's background is the stage-1 checkpoint's background i of the seed: the same z that
// `imbdef generate --seed S` gives sample i of a stage-2 checkpoint trained on that stage-1
// checkpoint. Side by side, the two datasets differ only in how the defect got there. Its class
// cycles through the chosen classes as generation's does; its defect is one of that class's
// training defects (the --protocol split's, never a held-out one), drawn from the seed, cut out by
// its mask and pasted at a random position inside the valid region (data/copy_paste.hpp). A
// defect that fits nowhere is counted and the sample skipped, never silently.

#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <imbdef/core/content_hash.hpp>
#include <imbdef/core/philox.hpp>
#include <imbdef/data/copy_paste.hpp>
#include <imbdef/data/defect_set.hpp>
#include <imbdef/data/export.hpp>
#include <imbdef/train/background_sampler.hpp>

#include "real_defects.hpp"

namespace imbdef_cli {

struct copy_paste_command_options {
    std::string background;  // a stage-1 checkpoint
    std::string data;        // the real defects with masks
    std::string out;
    std::string protocol = "all";
    std::string classes = "all";  // comma-separated class names, or all
    long long count = 64;
    std::uint64_t seed = 0;
    long long min_area = 16;  // components with fewer pixels get no label (as generate's)
    bool overwrite = false;
    bool skip_bad_files = false;  // as train-defect's: report unusable defects and go on without them
};

inline int run_copy_paste(const copy_paste_command_options& o) {
    namespace fs = std::filesystem;
    namespace core = imbdef::core;
    namespace data = imbdef::data;
    const std::string cmd = "imbdef copy-paste";
    IMBDEF_REQUIRE(o.count >= 1, cmd + " --count", "at least 1 sample", std::to_string(o.count));
    IMBDEF_REQUIRE(o.protocol == "all" || o.protocol == "one-third", cmd + " --protocol", "all or one-third", "'" + o.protocol + "'");
    auto backgrounds = imbdef::train::background_sampler::load(o.background);
    const core::index_t c = backgrounds.image_channels(), r = backgrounds.resolution(), plane = r * r;

    data::defect_set set = choose_classes(open_real_defects(o.data, static_cast<int>(r), static_cast<int>(c), o.skip_bad_files), o.classes,
                                          cmd + " --class");
    const auto split = data::split_defects(set, o.protocol == "all" ? data::split_protocol::all : data::split_protocol::one_third);
    const data::defect_tensors reals = data::load_defect_tensors(set, split.train);
    const auto num_classes = static_cast<int>(set.class_names.size());
    std::vector<std::vector<core::index_t>> by_class(static_cast<std::size_t>(num_classes));
    for (std::size_t i = 0; i < reals.classes.size(); ++i)
        by_class[static_cast<std::size_t>(reals.classes[i])].push_back(static_cast<core::index_t>(i));
    for (int k = 0; k < num_classes; ++k)
        IMBDEF_REQUIRE(!by_class[static_cast<std::size_t>(k)].empty(), cmd + " --data " + o.data,
                       "training defects in every class", "none in class '" + set.class_names[static_cast<std::size_t>(k)] + "'");

    data::export_options eo;
    eo.class_names = set.class_names;
    eo.overwrite = o.overwrite;
    eo.components.min_area = static_cast<core::index_t>(o.min_area);
    data::dataset_writer writer(o.out, eo);

    core::tensor<float> image({1, c, r, r}), valid({1, 1, r, r}), pasted({c, r, r}), mask({r, r}), defect_mask({r, r});
    std::uint64_t unplaced = 0, index = 0;
    long long kept = 0;
    const std::uint64_t max_tries = static_cast<std::uint64_t>(o.count) * 20 + 64;
    for (; kept < o.count && index < max_tries; ++index) {
        backgrounds.generate(o.seed, index, image.view(), valid.view());
        const int cls = static_cast<int>(index % static_cast<std::uint64_t>(num_classes));
        const auto& pool = by_class[static_cast<std::size_t>(cls)];
        // Streams 2^61 + i: the choice of defect and its placement, apart from the backgrounds' z.
        const core::philox_stream rng{.seed = o.seed, .stream = (std::uint64_t{1} << 61) + index};
        const auto pick = pool[std::min(pool.size() - 1, static_cast<std::size_t>(rng.uniform(0) * static_cast<float>(pool.size())))];
        for (core::index_t q = 0; q < plane; ++q) defect_mask[q] = reals.masks[pick * plane + q] > 0 ? 1.0f : 0.0f;
        const core::const_view<float> defect(reals.images.data() + pick * c * plane, {c, r, r});
        const core::const_view<float> background(image.data(), {c, r, r}), region(valid.data(), {r, r});
        const auto placed = data::copy_paste<float>(background, region, defect, defect_mask.cview(), pasted.view(), mask.view(),
                                                    core::philox_stream{.seed = o.seed, .stream = (std::uint64_t{1} << 60) + index});
        if (!placed.placed) {
            ++unplaced;
            continue;
        }
        char name[64];
        std::snprintf(name, sizeof name, "%llu-%06llu", static_cast<unsigned long long>(o.seed), static_cast<unsigned long long>(index));
        writer.add({.name = name,
                    .image = data::image_u8_from_chw(pasted.cview()),
                    .mask = data::mask_u8_from(mask.cview()),
                    .class_id = cls,
                    .background = data::image_u8_from_chw(background),
                    .valid_region = data::mask_u8_from(region),
                    .metadata = {{"seed", o.seed}, {"index", index}, {"source", set.samples[split.train[static_cast<std::size_t>(pick)]].image.string()}}});
        ++kept;
    }
    data::export_metadata meta;
    meta.run = {{"method", "copy-paste"},
                {"background_checkpoint", fs::absolute(o.background).string()},
                {"background_checkpoint_hash", core::file_content_hash(o.background)},
                {"data", fs::absolute(o.data).string()},
                {"protocol", o.protocol},
                {"seed", o.seed},
                {"requested", o.count},
                {"kept", kept}};
    meta.rejected["fits_nowhere"] = static_cast<core::index_t>(unplaced);
    writer.finish(meta);
    if (kept < o.count)
        std::fprintf(stderr, "imbdef copy-paste: only %lld of %lld defects found a place inside the valid region in %llu tries\n", kept,
                     o.count, static_cast<unsigned long long>(index));
    std::printf("%lld copy-paste samples in %s (%llu defects fit nowhere)\n", kept, o.out.c_str(), static_cast<unsigned long long>(unplaced));
    return 0;
}

}  // namespace imbdef_cli
