#pragma once
// imbdef generate --checkpoint PATCH_DEFECT_CKPT --backgrounds DIR ...: defects of a patch model
// (train-defect --patch) composed into the user's own full-size defect-free images, written as the
// labelled dataset `imbdef generate` writes (full-size images, masks, instance and class maps,
// YOLO, COCO, data.yaml, manifest).
//
// Attempt i takes background image i mod |images| (sorted by path), converted to the model's
// channels. Its valid region comes from --valid-region (auto: Otsu foreground with the full-frame
// fallback; full-frame), intersected with --region (one mask file for every image, or a folder of
// masks with the images' file names). Each of its K defects:
//   1. is sample (K i + k) of the seed, as `imbdef generate` would draw it, in the class cycle of
//      --class (a patch the rejection rules refuse is replaced by the next candidate index,
//      counted by reason, up to 20 tries);
//   2. goes to a footprint (the patch at the image's scale: round(P / scale) px) drawn uniformly
//      from Philox stream (seed, 2^60 + 64 i + k) among positions whose centre pixel is in the
//      region and whose footprint is at least half region, up to 64 draws;
//   3. is composed by data::compose_defect_patch: the residual defect - paired background, resized
//      to the footprint, added under the band weight, so every pixel beyond the band around the
//      masks is the input image's, bit for bit;
//   4. is refused (counted as "seam", the image left as it was) when the step across the
//      footprint's border grows by more than --seam-threshold (metrics/seam.hpp): where the band
//      is cut off by the footprint's edge.
// --count images are written: an attempt whose defects all failed (refused patches, no place in
// the region, a mask that vanishes at the image's scale) is replaced by the next attempt, every
// case counted in the manifest. A background smaller than a footprint is an error naming it.

#include <cstdio>
#include <filesystem>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <imbdef/core/content_hash.hpp>
#include <imbdef/core/philox.hpp>
#include <imbdef/data/background_set.hpp>
#include <imbdef/data/compose_patch.hpp>
#include <imbdef/data/export.hpp>
#include <imbdef/data/image_io.hpp>
#include <imbdef/metrics/rejection.hpp>
#include <imbdef/metrics/seam.hpp>
#include <imbdef/train/defect_sampler.hpp>

#include "generate_defects.hpp"  // chosen_classes
#include "real_defects.hpp"

namespace imbdef_cli {

struct generate_composed_options {
    std::string backgrounds;          // folder of the user's defect-free images
    std::string region;               // optional: a mask file for all, or a folder of masks by file name
    std::string valid_region = "auto";
    std::string classes = "all";
    int defects_per_image = 1;
    long long min_area = 16;
    double seam_threshold = imbdef::metrics::default_seam_threshold;  // metrics/seam.hpp, in [-1, 1] image units
    bool no_reject = false;
    bool overwrite = false;
};

inline void run_generate_composed(const std::string& checkpoint, const std::string& out_dir, const std::string& group, long long count,
                                  std::uint64_t seed, double truncation, const generate_composed_options& o) {
    namespace fs = std::filesystem;
    namespace core = imbdef::core;
    namespace data = imbdef::data;
    namespace metrics = imbdef::metrics;
    const std::string cmd = "imbdef generate --backgrounds";
    auto sampler = imbdef::train::defect_sampler::load(checkpoint, group);
    const double scale = sampler.metadata().at("config").value("patch_scale", 0.0);
    IMBDEF_REQUIRE(scale > 0, cmd + " --checkpoint " + checkpoint,
                   "a defect stage trained on native-scale patches (train-defect --patch), whose defects keep the images' scale",
                   "a whole-image model (its samples are whole images shrunk to " + std::to_string(sampler.resolution()) +
                       " px): generate without --backgrounds");
    IMBDEF_REQUIRE(o.valid_region == "auto" || o.valid_region == "full-frame", cmd + " --valid-region", "auto or full-frame",
                   "'" + o.valid_region + "'");
    const std::vector<int> classes = chosen_classes(sampler, o.classes, o.defects_per_image, cmd);

    // The backgrounds: every image file of the folder, sorted, each proven readable before anything is written.
    const auto sources = data::background_sources(fs::path(o.backgrounds));
    IMBDEF_REQUIRE(!sources.empty(), cmd + " " + o.backgrounds, "at least one defect-free image", "no image files");
    const core::index_t p = sampler.resolution(), c = sampler.image_channels(), plane = p * p;
    const core::index_t footprint = data::patch_footprint(p, scale);
    data::background_options bopt;
    bopt.valid_region = o.valid_region == "full-frame" ? data::valid_region_choice{data::full_frame{}} : data::valid_region_choice{data::otsu_foreground{}};
    // --region: one mask for every image, or a folder holding <image file name> (or <stem>.png).
    const auto user_region = [&](const fs::path& image) -> std::optional<data::mask_u8> {
        if (o.region.empty()) return std::nullopt;
        if (!fs::is_directory(o.region)) return data::read_mask(o.region);
        const fs::path same = fs::path(o.region) / image.filename();
        return data::read_mask(fs::exists(same) ? same : (fs::path(o.region) / image.stem()).replace_extension(".png"));
    };
    struct loaded {
        core::tensor<float> image;          // [C, H, W] in [-1, 1]
        core::tensor<std::uint8_t> region;  // [H, W] {0, 1}: valid region and user region
    };
    const auto load = [&](const data::background_source& s) {
        const auto d = data::detail::decode_background(s, bopt);
        loaded l{data::preprocess_scaled(d.image.pixels, static_cast<int>(c), 1.0, s.image), {}};
        const core::index_t h = l.image.size(1), w = l.image.size(2);
        IMBDEF_REQUIRE(h >= footprint && w >= footprint, "background image " + s.image.string(),
                       "at least a defect's footprint, " + std::to_string(footprint) + " px a side (the " + std::to_string(p) +
                           "-px patch at scale " + std::to_string(scale) + ")",
                       std::to_string(w) + " x " + std::to_string(h) + " px");
        const auto extra = user_region(s.image);
        if (extra)
            IMBDEF_REQUIRE(extra->shape()[0] == static_cast<std::size_t>(h) && extra->shape()[1] == static_cast<std::size_t>(w),
                           cmd + " --region for " + s.image.string(), "a mask of the image's size " + std::to_string(w) + " x " + std::to_string(h),
                           std::to_string(extra->shape()[1]) + " x " + std::to_string(extra->shape()[0]));
        l.region = core::tensor<std::uint8_t>(core::shape{h, w});
        for (core::index_t q = 0; q < h * w; ++q)
            l.region[q] = d.valid_region.data()[q] >= 128 && (!extra || extra->data()[q] >= 128) ? 1 : 0;
        return l;
    };
    for (const auto& s : sources) load(s);  // every file proven before the first is written

    data::export_options eo;
    eo.class_names = sampler.class_names();
    eo.overwrite = o.overwrite;
    eo.components.min_area = static_cast<core::index_t>(o.min_area);
    data::dataset_writer writer(out_dir, eo);

    const int band = std::max(1, sampler.generator().config().composite.radius);
    const auto k_passes = static_cast<core::index_t>(o.defects_per_image);
    auto batch = sampler.make_batch(1, 1);
    const auto& areas = sampler.class_area();
    metrics::rejection_counts counts;
    std::uint64_t candidate_offset = 0;  // replacements drawn so far, after all first candidates
    const std::uint64_t first_replacement = static_cast<std::uint64_t>(count * 20 + 64) * static_cast<std::uint64_t>(k_passes);
    long long kept = 0, unplaced = 0, vanished = 0, empty_images = 0, seams = 0;
    // --count is the number of images written: an image that got no defect is replaced by the
    // next attempt, up to 20 attempts per requested image; the shortfall is said, never hidden.
    const long long max_attempts = count * 20 + 64;
    long long i = 0;
    for (; i < max_attempts && kept < count; ++i) {
        const auto& source = sources[static_cast<std::size_t>(i) % sources.size()];
        loaded bg = load(source);
        const core::index_t h = bg.image.size(1), w = bg.image.size(2);
        core::tensor<float> image(core::shape{c, h, w}), mask(core::shape{h, w});
        std::copy(bg.image.begin(), bg.image.end(), image.begin());
        core::tensor<std::int32_t> instance(core::shape{h, w}), class_map(core::shape{h, w}), trial_instance(core::shape{h, w});
        core::tensor<float> trial(core::shape{c, h, w}), trial_mask(core::shape{h, w});
        nlohmann::json placed = nlohmann::json::array();
        int first_class = -1;
        for (core::index_t k = 0; k < k_passes; ++k) {
            // The defect patch: candidate K i + k, then replacements while the rules refuse it.
            const std::uint64_t slot = static_cast<std::uint64_t>(i) * static_cast<std::uint64_t>(k_passes) + static_cast<std::uint64_t>(k);
            const int cls = classes[slot % classes.size()];
            std::uint64_t index = slot;
            bool ok = false;
            for (int t = 0; t < 20 && !ok; ++t) {
                if (t > 0) index = first_replacement + candidate_offset++;
                sampler.generate(seed, index, std::span<const int>(&cls, 1), batch, truncation);
                const core::const_view<float> pimg(batch.image.data(), {c, p, p}), pbg(batch.background.data(), {c, p, p}),
                    pmask(batch.mask.data(), {p, p}), pvalid(batch.valid_region.data(), {p, p});
                const auto reason = o.no_reject ? metrics::rejection_reason::none
                                                : metrics::judge_defect_sample(pimg, pbg, pmask, pvalid,
                                                                               areas.empty() ? std::nullopt
                                                                                             : std::optional(areas[static_cast<std::size_t>(cls)]))
                                                      .reason;
                counts.add(reason);
                ok = reason == metrics::rejection_reason::none;
            }
            if (!ok) continue;  // counted by reason; this image gets one defect fewer
            // The footprint's place.
            const core::philox_stream rng{.seed = seed, .stream = (std::uint64_t{1} << 60) + static_cast<std::uint64_t>(i) * 64 + static_cast<std::uint64_t>(k)};
            std::optional<std::array<core::index_t, 2>> at;
            for (std::uint64_t t = 0; t < 64 && !at; ++t) {
                const auto top = std::min(h - footprint, static_cast<core::index_t>(static_cast<double>(rng.uniform(2 * t)) * static_cast<double>(h - footprint + 1)));
                const auto left = std::min(w - footprint, static_cast<core::index_t>(static_cast<double>(rng.uniform(2 * t + 1)) * static_cast<double>(w - footprint + 1)));
                if (!bg.region[(top + footprint / 2) * w + left + footprint / 2]) continue;
                core::index_t inside = 0;
                for (core::index_t y = 0; y < footprint; ++y)
                    for (core::index_t x = 0; x < footprint; ++x) inside += bg.region[(top + y) * w + left + x];
                if (2 * inside >= footprint * footprint) at = std::array<core::index_t, 2>{top, left};
            }
            if (!at) {
                ++unplaced;
                continue;
            }
            // Composed into a copy first: a defect whose seam fails leaves the image as it was.
            std::copy(image.begin(), image.end(), trial.begin());
            std::copy(mask.begin(), mask.end(), trial_mask.begin());
            std::copy(instance.begin(), instance.end(), trial_instance.begin());
            const auto r = data::compose_defect_patch<float>(core::const_view<float>(batch.image.data(), {c, p, p}),
                                                             core::const_view<float>(batch.background.data(), {c, p, p}),
                                                             core::const_view<float>(batch.mask.data(), {p, p}), scale, (*at)[0], (*at)[1], band,
                                                             trial.view(), trial_mask.view(), trial_instance.view(), static_cast<std::int32_t>(k + 1));
            if (r.area == 0) {  // the patch's mask covers under half an image pixel everywhere
                ++vanished;
                continue;
            }
            const double seam = imbdef::metrics::seam_step<float>(image.cview(), trial.cview(), (*at)[0], (*at)[1], footprint);
            if (!o.no_reject && seam > o.seam_threshold) {
                ++seams;
                continue;
            }
            std::swap(image, trial);
            std::swap(mask, trial_mask);
            std::swap(instance, trial_instance);
            for (core::index_t y = 0; y < footprint; ++y)
                for (core::index_t x = 0; x < footprint; ++x)
                    if (instance[((*at)[0] + y) * w + (*at)[1] + x] == k + 1) class_map[((*at)[0] + y) * w + (*at)[1] + x] = cls + 1;
            if (first_class < 0) first_class = cls;
            placed.push_back({{"class", sampler.class_names()[static_cast<std::size_t>(cls)]}, {"index", index}, {"top", (*at)[0]},
                              {"left", (*at)[1]}, {"size", footprint}, {"area", r.area}, {"seam", seam}});
        }
        if (first_class < 0) {  // no defect landed: nothing to label
            ++empty_images;
            continue;
        }
        core::tensor<float> region(core::shape{h, w});
        for (core::index_t q = 0; q < h * w; ++q) region[q] = bg.region[q];
        char name[64];
        std::snprintf(name, sizeof name, "%llu-%06lld", static_cast<unsigned long long>(seed), i);
        data::export_sample s{.name = name,
                              .split = "train",
                              .image = data::image_u8_from_chw(image.cview()),
                              .mask = data::mask_u8_from(mask.cview()),
                              .class_id = first_class,
                              .instance = {},
                              .class_map = {},
                              .background = data::image_u8_from_chw(bg.image.cview()),
                              .valid_region = data::mask_u8_from(region.cview()),
                              .metadata = {{"seed", seed}, {"background", source.image.string()}, {"defects", placed}}};
        if (k_passes > 1) {
            auto inst = xt::xtensor<std::int32_t, 2>::from_shape({std::size_t(h), std::size_t(w)}), cm = inst;
            std::copy(instance.begin(), instance.end(), inst.begin());
            std::copy(class_map.begin(), class_map.end(), cm.begin());
            s.instance = std::move(inst);
            s.class_map = std::move(cm);
        }
        writer.add(s);
        ++kept;
    }
    data::export_metadata meta;
    meta.run = {{"checkpoint", fs::absolute(checkpoint).string()},
                {"checkpoint_hash", core::file_content_hash(checkpoint)},
                {"weights", group},
                {"seed", seed},
                {"truncation_psi", truncation},
                {"mode", "composed into full-size backgrounds"},
                {"backgrounds", fs::absolute(o.backgrounds).string()},
                {"region", o.region},
                {"valid_region", o.valid_region},
                {"patch", {{"size", p}, {"scale", scale}, {"footprint", footprint}, {"band_radius", band}}},
                {"defects_per_image", k_passes},
                {"classes", o.classes},
                {"reject", !o.no_reject},
                {"requested", count},
                {"kept", kept},
                {"attempts", i},
                {"seam_threshold", o.seam_threshold}};
    for (const auto reason : metrics::rejection_reasons) meta.rejected[std::string(metrics::to_string(reason))] = static_cast<core::index_t>(counts.of(reason));
    meta.rejected["no_place_in_region"] = static_cast<core::index_t>(unplaced);
    meta.rejected["vanished_at_image_scale"] = static_cast<core::index_t>(vanished);
    meta.rejected["seam"] = static_cast<core::index_t>(seams);
    meta.rejected["image_without_defect"] = static_cast<core::index_t>(empty_images);
    writer.finish(meta);
    if (kept < count)
        std::fprintf(stderr, "imbdef generate --backgrounds: only %lld of %lld images got a defect in %lld attempts (see the manifest's "
                             "rejections)\n", kept, count, i);
    std::printf("%lld full-size images with composed defects in %s (%lld-px patches at scale %g: %lld-px footprints; %llu patches "
                "rejected, %lld defects found no place, %lld vanished, %lld refused for their seam, %lld images without a defect "
                "replaced)\n",
                kept, out_dir.c_str(), static_cast<long long>(p), scale, static_cast<long long>(footprint),
                static_cast<unsigned long long>(counts.rejected()), unplaced, vanished, seams, empty_images);
}

}  // namespace imbdef_cli
