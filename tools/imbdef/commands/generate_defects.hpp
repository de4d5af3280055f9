#pragma once
// imbdef generate --checkpoint DEFECT_CKPT ...: a labelled, detector-ready dataset from a stage-2
// checkpoint (docs/export.md has the files). For every sample, reproducible from (seed, index):
// the defect image, its mask, the class and instance maps when several defects share an image,
// the paired defect-free background and the valid region; YOLO labels, one COCO JSON per split,
// an Ultralytics data.yaml and a manifest (seeds, classes, truncation, checkpoint hash, version,
// rejections by reason).
//
// Samples are judged by their own measurements (metrics/rejection.hpp) and a failed one is
// replaced by the next index, never kept silently: --count is the number kept, and the manifest
// counts every rejection by reason. After 20 tries per requested sample the dataset is finished
// with fewer, and the shortfall is printed and recorded. --no-reject keeps everything.
//
// The manifest's run.measurements holds the reference-free metrics (metrics/defect_metrics.hpp:
// mean out-of-region rate, mean mask alignment, pairwise diversity of the defect crops, overall
// and per class) of the first 64 kept samples at the training resolution: enough to see what the
// set is like, at a cost that does not grow with --count.

#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <imbdef/data/export.hpp>
#include <imbdef/metrics/defect_metrics.hpp>
#include <imbdef/metrics/rejection.hpp>
#include <imbdef/models/defect_maps.hpp>
#include <imbdef/train/defect_sampler.hpp>
#include <imbdef/train/defect_trainer.hpp>

#include "real_defects.hpp"  // split_names

namespace imbdef_cli {

struct generate_defect_options {
    std::string classes = "all";   // "all", or names separated by commas
    int defects_per_image = 1;
    std::string size;              // WxH; empty: the training resolution
    std::string yolo = "detect";   // detect or segment
    std::string coco = "rle";      // rle or polygon
    long long min_area = 16;       // components with fewer pixels get no label
    bool no_reject = false;
    bool overwrite = false;
};

// --class ("all" or names, comma-separated) as the sampler's class indices, after checking
// --defects-per-image: what both ways of generating defects (generated or given backgrounds) read.
inline std::vector<int> chosen_classes(const imbdef::train::defect_sampler& sampler, const std::string& list, int defects_per_image,
                                       const std::string& cmd) {
    constexpr int max_passes = imbdef::train::defect_sampler::max_passes;
    IMBDEF_REQUIRE(defects_per_image >= 1 && defects_per_image <= max_passes, cmd + " --defects-per-image",
                   "1 to " + std::to_string(max_passes), std::to_string(defects_per_image));
    if (list == "all") return sampler.all_classes();
    std::vector<int> classes;
    for (const auto& name : split_names(list)) classes.push_back(sampler.class_index(name));
    return classes;
}

inline void run_generate_defects(const std::string& checkpoint, const std::string& out_dir, const std::string& group,
                                 long long count, std::uint64_t seed, double truncation, const generate_defect_options& o) {
    namespace fs = std::filesystem;
    namespace core = imbdef::core;
    namespace data = imbdef::data;
    namespace metrics = imbdef::metrics;
    const std::string cmd = "imbdef generate";
    auto sampler = imbdef::train::defect_sampler::load(checkpoint, group);
    const std::vector<int> classes = chosen_classes(sampler, o.classes, o.defects_per_image, cmd);
    std::optional<std::pair<core::index_t, core::index_t>> size;
    if (!o.size.empty()) {
        long w = 0, h = 0;
        char x = 0;
        std::istringstream in(o.size);
        IMBDEF_REQUIRE((in >> w >> x >> h) && x == 'x' && w >= 1 && h >= 1 && in.peek() == EOF, cmd + " --size", "WxH, like 640x480",
                       "'" + o.size + "'");
        size = {h, w};
    }
    data::export_options eo;
    eo.class_names = sampler.class_names();
    eo.yolo = o.yolo == "segment" ? data::yolo_task::segment : data::yolo_task::detect;
    eo.coco = o.coco == "polygon" ? data::coco_segmentation::polygon : data::coco_segmentation::rle;
    eo.overwrite = o.overwrite;
    eo.components.min_area = static_cast<core::index_t>(o.min_area);
    data::dataset_writer writer(out_dir, eo);

    const core::index_t k = o.defects_per_image, c = sampler.image_channels(), r = sampler.resolution(), plane = r * r;
    auto batch = sampler.make_batch(8, k);
    const auto& areas = sampler.class_area();
    metrics::rejection_counts counts;
    core::tensor<std::int32_t> instance({8, r, r}), class_map({8, r, r});
    core::tensor<float> any_mask({r, r});
    long long kept = 0;
    std::uint64_t index = 0;
    // The kept samples that are measured for the manifest (the union of their passes' masks).
    constexpr core::index_t measured_max = 64;
    core::tensor<float> m_images({measured_max, c, r, r}), m_masks({measured_max, 1, r, r}), m_backgrounds({measured_max, c, r, r}),
        m_valid({measured_max, 1, r, r});
    std::vector<int> m_classes;
    // A model whose samples mostly fail must not loop for ever: after 20 tries per requested sample
    // the dataset is finished with what was kept, and the shortfall is said (here and in the
    // manifest), never hidden.
    const std::uint64_t max_tries = static_cast<std::uint64_t>(count) * 20 + 64;
    // Each class keeps its share of --count (the first `count` slots of the class cycle), however
    // often its samples are rejected: a class whose generated defects fail more often must not
    // leave the dataset with fewer of it. Later batches draw only from the classes still short;
    // a sample of a class already complete is dropped (counted in the manifest, not a rejection).
    std::vector<long long> quota(static_cast<std::size_t>(sampler.num_classes()), 0), have(quota.size(), 0);
    for (long long i = 0; i < count; ++i) ++quota[static_cast<std::size_t>(classes[static_cast<std::size_t>(i) % classes.size()])];
    std::uint64_t over_quota = 0;
    std::vector<int> open;
    while (kept < count && index < max_tries) {
        open.clear();
        for (const int cl : classes)
            if (have[static_cast<std::size_t>(cl)] < quota[static_cast<std::size_t>(cl)]) open.push_back(cl);
        sampler.generate(seed, index, open, batch, truncation);
        imbdef::models::compose_defect_maps<float>(batch.mask.cview(), batch.classes, instance.view(), class_map.view());
        for (core::index_t i = 0; i < 8 && kept < count; ++i, ++index) {
            const core::const_view<float> image(batch.image.data() + i * c * plane, {c, r, r}),
                background(batch.background.data() + i * c * plane, {c, r, r}), valid(batch.valid_region.data() + i * plane, {r, r});
            metrics::rejection_reason reason = metrics::rejection_reason::none;
            for (float& v : any_mask) v = 0;
            for (core::index_t p = 0; p < k && reason == metrics::rejection_reason::none; ++p) {
                const core::const_view<float> m(batch.mask.data() + (i * k + p) * plane, {r, r});
                for (core::index_t q = 0; q < plane; ++q) any_mask[q] = std::max(any_mask[q], m[q]);
                if (o.no_reject) continue;
                const int cls = batch.classes[static_cast<std::size_t>(i * k + p)];
                reason = metrics::judge_defect_sample(image, background, m, valid,
                                                      areas.empty() ? std::nullopt : std::optional(areas[static_cast<std::size_t>(cls)]))
                             .reason;
            }
            const auto first_class = static_cast<std::size_t>(batch.classes[static_cast<std::size_t>(i * k)]);
            if (reason == metrics::rejection_reason::none && have[first_class] >= quota[first_class]) {
                ++over_quota;
                continue;
            }
            counts.add(reason);
            if (reason != metrics::rejection_reason::none) continue;
            ++have[first_class];
            if (const auto j = static_cast<core::index_t>(m_classes.size()); j < measured_max) {
                std::copy_n(image.data(), c * plane, m_images.data() + j * c * plane);
                std::copy_n(background.data(), c * plane, m_backgrounds.data() + j * c * plane);
                std::copy_n(any_mask.data(), plane, m_masks.data() + j * plane);
                std::copy_n(valid.data(), plane, m_valid.data() + j * plane);
                m_classes.push_back(batch.classes[static_cast<std::size_t>(i * k)]);
            }
            char name[64];
            std::snprintf(name, sizeof name, "%llu-%06llu", static_cast<unsigned long long>(seed), static_cast<unsigned long long>(index));
            data::export_sample s{.name = name,
                                  .split = "train",
                                  .image = data::image_u8_from_chw(image),
                                  .mask = data::mask_u8_from(any_mask.cview()),
                                  .class_id = batch.classes[static_cast<std::size_t>(i * k)],
                                  .instance = {},
                                  .class_map = {},
                                  .background = data::image_u8_from_chw(background),
                                  .valid_region = data::mask_u8_from(valid),
                                  .metadata = {{"seed", seed}, {"index", index}}};
            if (k > 1) {
                auto inst = xt::xtensor<std::int32_t, 2>::from_shape({std::size_t(r), std::size_t(r)}), cls = inst;
                std::copy_n(instance.data() + i * plane, plane, inst.data());
                std::copy_n(class_map.data() + i * plane, plane, cls.data());
                s.instance = std::move(inst);
                s.class_map = std::move(cls);
            }
            if (size) s = data::resize_sample(s, size->first, size->second);
            writer.add(s);
            ++kept;
        }
    }
    data::export_metadata meta;
    meta.run = {{"checkpoint", fs::absolute(checkpoint).string()},
                {"checkpoint_hash", imbdef::core::file_content_hash(checkpoint)},
                {"weights", group},
                {"seed", seed},
                {"truncation_psi", truncation},
                {"defects_per_image", k},
                {"classes", o.classes},
                {"reject", !o.no_reject},
                {"requested", count},
                {"kept_per_class", have},
                {"dropped_class_complete", over_quota},
                {"kept", kept}};
    if (!m_classes.empty()) {
        const auto n = static_cast<core::index_t>(m_classes.size());
        const auto first = [&](const core::tensor<float>& t) {
            return core::const_view<float>(t.data(), core::shape{n, t.size(1), r, r});
        };
        metrics::defect_metric_options mo;
        mo.class_names = sampler.class_names();
        mo.crops.size = std::min<core::index_t>(64, r);
        nlohmann::json m = metrics::to_json(metrics::measure_defects_reference_free(
            {.images = first(m_images), .masks = first(m_masks), .classes = m_classes, .backgrounds = first(m_backgrounds),
             .valid_regions = first(m_valid)},
            mo));
        m["measured"] = "the first " + std::to_string(n) + " kept samples, at the training resolution " + std::to_string(r) + "x" +
                        std::to_string(r) + (k > 1 ? " (the union of each image's defect masks)" : "");
        meta.run["measurements"] = std::move(m);
    }
    for (const auto reason : metrics::rejection_reasons) meta.rejected[std::string(metrics::to_string(reason))] = static_cast<core::index_t>(counts.of(reason));
    writer.finish(meta);
    if (kept < count)
        std::fprintf(stderr,
                     "imbdef generate: only %lld of %lld samples passed their measurements in %llu tries; the dataset has "
                     "those %lld (the rejections by reason are below and in the manifest; --no-reject keeps all)\n",
                     kept, count, static_cast<unsigned long long>(index), kept);
    std::printf("%lld defect samples in %s (%llu rejected: ", kept, out_dir.c_str(), static_cast<unsigned long long>(counts.rejected()));
    for (const auto reason : metrics::rejection_reasons)
        std::printf("%s %llu%s", std::string(metrics::to_string(reason)).c_str(), static_cast<unsigned long long>(counts.of(reason)),
                    reason == metrics::rejection_reasons.back() ? ")\n" : ", ");
}

}  // namespace imbdef_cli
