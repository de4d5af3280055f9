#pragma once
// imbdef train-defect: the stage-2 training run around train::defect_trainer.
//
//   RUN/checkpoint.safetensors   the latest state (kind imbdef.defect; written atomically at every
//                                snapshot and at the end): what `imbdef generate` samples from
//   RUN/log.jsonl                one record per step (every G term by name, the D losses, R1, ADA p),
//                                per metric measurement and per snapshot
//   RUN/samples/<kimg>.png       the EMA generator at fixed seeds, two rows per class (in class
//                                order), each background | defect | defect with its mask outlined
//   RUN/reals.png                up to two training defects per class: defect | mask outlined
//   RUN/report.html              the grids per class beside the reals, every loss and metric over
//                                time, the summary and configuration (rewritten at each snapshot)
//
// Metrics (metrics/defect_metrics.hpp) at the start, every --metrics-kimg and at the end: a fixed
// set of --metrics-images samples of the EMA generator (fixed seed, every class in turn) against
// the training defects (up to --metrics-images of each class).
//
// The defects come from --data (MVTec AD, Magnetic Tile, image + mask folders, the MPDD layout);
// without it, from the synthetic dataset that stage 1's run wrote next to its checkpoint
// (<stage-1 run>/synthetic), else a fresh one. --classes trains on some of its classes. With
// --resume the run continues bit for bit, and the log is cut back to the checkpoint.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <imbdef/data/defect_batches.hpp>
#include <imbdef/data/defect_patches.hpp>
#include <imbdef/data/defect_set.hpp>
#include <imbdef/data/image_io.hpp>
#include <imbdef/data/synthetic.hpp>
#include <imbdef/metrics/defect_metrics.hpp>
#include <imbdef/train/defect_sampler.hpp>
#include <imbdef/train/defect_trainer.hpp>
#include <imbdef/train/log.hpp>
#include <imbdef/train/progress.hpp>
#include <imbdef/train/report.hpp>

#include "real_defects.hpp"
#include "train_background.hpp"  // detail::prepare_run_folder, detail::stopped_by_non_finite

namespace imbdef_cli {

struct train_defect_options {
    std::string background;  // the stage-1 checkpoint
    std::string data;        // a defect dataset; empty: the synthetic one
    std::string out;
    std::string resume;
    std::string protocol = "all";  // all, or one-third (the literature's: the first third of each class trains)
    std::string classes;           // comma-separated class names to train on; empty: all of the dataset's
    double kimg = 4;
    double snapshot_kimg = 1;
    double metrics_kimg = 1;
    double max_minutes = 0;  // 0: no time bound; else stop (with a checkpoint) after this long, to --resume later
    std::uint64_t seed = 0;
    int batch = 8;
    int start_layer = -1;
    int composite_radius = imbdef::models::output_composite{}.radius;  // -1: off (METHOD.md's plain output)
    double initial_mask_area = -1;  // < 0: the median area of the training defects; 0: off; else this share
    int metrics_images = 64;
    bool x_flip = true;
    bool no_augment = false;
    bool skip_bad_files = false;
    bool patch = false;    // native-scale patches (the stage-1 checkpoint must be a patch model too)
    double scale = 0;      // with patch: the images' scale; 0: the stage-1 checkpoint's
};

namespace defect_detail {

namespace fs = std::filesystem;
namespace core = imbdef::core;

// A run's real defect batches: the decoded training defects (whole images), or native-scale
// patches cut anew every time (--patch). Both are functions of (seed, batches served).
class defect_reals {
public:
    defect_reals(imbdef::data::defect_tensors whole, std::optional<std::vector<imbdef::data::scaled_defect>> scaled, core::index_t patch,
                 std::uint64_t seed, bool x_flip) {
        if (scaled) patches_.emplace(std::move(*scaled), patch, seed, x_flip);
        else whole_.emplace(std::move(whole), seed, x_flip);
    }
    void seek(std::uint64_t batches, core::index_t batch) {
        if (whole_) whole_->seek(batches, batch);
        else patches_->seek(batches, batch);
    }
    void next(core::view<float> images, core::view<float> masks, std::span<int> classes) {
        if (whole_) whole_->next(images, masks, classes);
        else patches_->next(images, masks, classes);
    }

private:
    std::optional<imbdef::data::defect_batches> whole_;
    std::optional<imbdef::data::defect_patches> patches_;
};

// One row per sample: [background |] defect | defect with its mask's outline in red.
inline void write_defect_grid(const fs::path& path, std::optional<core::const_view<float>> backgrounds,
                              core::const_view<float> defects, core::const_view<float> masks) {
    const auto n = defects.size(0), c = defects.size(1), r = defects.size(2);
    const std::size_t gap = 2, cell = static_cast<std::size_t>(r) + gap, columns = backgrounds ? 3 : 2;
    const std::size_t first = backgrounds ? 1 : 0;  // the column of the defect
    xt::xtensor<std::uint8_t, 3> out = xt::zeros<std::uint8_t>({cell * static_cast<std::size_t>(n), cell * columns, std::size_t{3}});
    const auto inside = [&](core::index_t i, core::index_t y, core::index_t x) {
        return y >= 0 && y < r && x >= 0 && x < r && masks(i, 0, y, x) > 0.0f;
    };
    const auto u8 = [](float v) { return static_cast<std::uint8_t>(std::clamp((v + 1.0f) * 127.5f + 0.5f, 0.0f, 255.0f)); };
    for (core::index_t i = 0; i < n; ++i)
        for (core::index_t y = 0; y < r; ++y)
            for (core::index_t x = 0; x < r; ++x) {
                const bool edge = inside(i, y, x) && !(inside(i, y - 1, x) && inside(i, y + 1, x) && inside(i, y, x - 1) && inside(i, y, x + 1));
                for (int k = 0; k < 3; ++k) {
                    const std::size_t oy = static_cast<std::size_t>(i) * cell + static_cast<std::size_t>(y), ox = static_cast<std::size_t>(x);
                    if (backgrounds) out(oy, ox, k) = u8((*backgrounds)(i, c == 3 ? k : 0, y, x));
                    const std::uint8_t d = u8(defects(i, c == 3 ? k : 0, y, x));
                    out(oy, first * cell + ox, k) = d;
                    out(oy, (first + 1) * cell + ox, k) = edge ? (k == 0 ? 255 : 0) : d;
                }
            }
    imbdef::data::write_png(path, out);
}

// The report's charts, in page order; created up front so that the order does not depend on which
// value arrives first.
inline constexpr const char* g_terms_chart = "G loss terms";
inline constexpr const char* d_losses_chart = "D losses";
inline constexpr const char* r1_chart = "R1 penalty (regularisation steps)";
inline constexpr const char* ada_chart = "ADA p";
struct metric_chart {
    const char* key;    // in the metrics record (metrics::to_json)
    const char* title;
};
inline constexpr metric_chart metric_charts[] = {
    {"boundary_transition", "boundary transition vs real defects (lower is better)"},
    {"crop_swd", "defect-crop SWD x1000 vs real defects (lower is better)"},
    {"diversity", "clustered diversity of defect crops around the reals (higher is better; 0: copies or collapse)"},
    {"pairwise_diversity", "pairwise diversity of generated defect crops, 1 - MS-SSIM (higher is more varied)"},
    {"out_of_region", "out-of-region rate of generated defects (lower is better)"},
    {"mask_alignment", "mask alignment of generated defects (higher is better)"}};

inline void create_charts(imbdef::train::training_report& report, const std::vector<std::string>& classes) {
    auto& g = report.chart(g_terms_chart);
    g.log_y = true;
    g.y_label = "loss";
    report.chart(d_losses_chart);
    report.chart(r1_chart);
    report.chart(ada_chart);
    for (const auto& m : metric_charts) {
        // The same series order (and so colours) in every metric chart: all classes, then each.
        auto& c = report.chart(m.title);
        c.series.push_back({"all classes", {}, {}});
        for (const auto& name : classes) c.series.push_back({name, {}, {}});
    }
}

// The points of one log record (a step or a metrics record), live and when a resumed run rebuilds
// its report from the log: one code path for both.
inline void add_points(imbdef::train::training_report& report, const nlohmann::json& rec) {
    if (!rec.contains("kimg")) return;
    const double x = rec["kimg"].get<double>();
    const std::string type = rec.value("type", "");
    if (type == "step") {
        for (const auto& [key, name] : {std::pair{"adv_img", "adv_img"}, std::pair{"adv_match", "adv_match"}, std::pair{"esl", "esl"},
                                        std::pair{"rcl", "rcl"}, std::pair{"loss_g", "total"}})
            if (rec.contains(key) && rec[key].is_number()) report.add_point(g_terms_chart, name, x, rec[key].get<double>());
        for (const auto& [key, name] : {std::pair{"loss_d_img", "D_img"}, std::pair{"loss_d_match", "D_match"},
                                        std::pair{"loss_d_shuffled", "D_match, shuffled-mask negative"}})
            if (rec.contains(key) && rec[key].is_number()) report.add_point(d_losses_chart, name, x, rec[key].get<double>());
        for (const char* key : {"r1_img", "r1_match"})
            if (rec.contains(key) && rec[key].is_number()) report.add_point(r1_chart, key, x, rec[key].get<double>());
        if (rec.contains("ada_p")) report.add_point(ada_chart, "p", x, rec["ada_p"].get<double>());
    } else if (type == "metrics") {
        for (const auto& m : metric_charts) {
            if (rec.contains(m.key)) report.add_point(m.title, "all classes", x, rec[m.key].get<double>());
            for (const auto& c : rec.value("per_class", nlohmann::json::array()))
                if (c.contains(m.key)) report.add_point(m.title, c["name"].get<std::string>(), x, c[m.key].get<double>());
        }
    }
}

// The rows of `classes` (a class id per row) to show: the first `per_class` of each class, in
// class order, and the report's row labels for them.
inline std::vector<core::index_t> rows_per_class(const std::vector<int>& classes, const std::vector<std::string>& names,
                                                 core::index_t per_class, imbdef::train::grid_labels* labels) {
    std::vector<core::index_t> rows;
    for (std::size_t k = 0; k < names.size(); ++k) {
        int taken = 0;
        for (std::size_t i = 0; i < classes.size() && taken < per_class; ++i)
            if (classes[i] == static_cast<int>(k)) {
                rows.push_back(static_cast<core::index_t>(i));
                ++taken;
            }
        if (labels && taken > 0) labels->rows.push_back({names[k], taken});
    }
    return rows;
}

// Rows `rows` of a [N, ...] tensor, copied.
inline core::tensor<float> take_rows(const core::tensor<float>& t, const std::vector<core::index_t>& rows) {
    const core::index_t per = t.numel() / t.size(0), n = static_cast<core::index_t>(rows.size());
    core::tensor<float> out(core::shape{n, t.size(1), t.size(2), t.size(3)}, core::uninitialized);
    for (core::index_t k = 0; k < n; ++k) std::copy_n(t.data() + rows[static_cast<std::size_t>(k)] * per, per, out.data() + k * per);
    return out;
}

}  // namespace defect_detail

inline int run_train_defect(const train_defect_options& o) {
    namespace fs = std::filesystem;
    namespace core = imbdef::core;
    namespace data = imbdef::data;
    namespace train = imbdef::train;
    namespace metrics = imbdef::metrics;
    using clock = std::chrono::steady_clock;
    const auto started = clock::now();
    const std::string cmd = "imbdef train-defect";
    IMBDEF_REQUIRE(!o.background.empty(), cmd + " --background", "a stage-1 checkpoint", "none");
    IMBDEF_REQUIRE(!o.out.empty(), cmd + " --out", "an output folder", "none");
    IMBDEF_REQUIRE(o.kimg > 0 && o.snapshot_kimg > 0 && o.metrics_kimg > 0, cmd + " --kimg/--snapshot-kimg/--metrics-kimg",
                   "positive numbers", std::to_string(o.kimg) + " / " + std::to_string(o.snapshot_kimg) + " / " + std::to_string(o.metrics_kimg));
    IMBDEF_REQUIRE(o.metrics_images >= 2, cmd + " --metrics-images", "at least 2 samples", std::to_string(o.metrics_images));
    IMBDEF_REQUIRE(o.protocol == "all" || o.protocol == "one-third", cmd + " --protocol", "all or one-third", "'" + o.protocol + "'");
    const auto stage1 = train::read_background_checkpoint(o.background);
    const auto& preset = *stage1.preset;
    const double stage1_scale = stage1.metadata.at("config").value("patch_scale", 0.0);
    const double scale = !o.patch ? 0.0 : o.scale > 0 ? o.scale : stage1_scale > 0 ? stage1_scale : 1.0;
    train::require_matching_patch_scale(stage1, scale, o.background);  // before anything is read or written
    const fs::path run = o.out;
    detail::prepare_run_folder(run, cmd);

    // ---- data ----
    fs::path data_root = o.data;
    if (data_root.empty()) {
        const fs::path beside = fs::path(o.background).parent_path() / "synthetic";
        data::synthetic_config sc;
        sc.resolution = std::max(64, preset.resolution);
        data_root = fs::is_directory(beside) ? beside : data::ensure_synthetic_dataset(sc, run / "synthetic");
        std::printf("no --data: the defects of the built-in synthetic dataset at %s\n", data_root.c_str());
    }
    // A dataset folder holding one MVTec AD category (the synthetic dataset's layout): use it.
    if (!fs::is_directory(data_root / "ground_truth") && fs::is_directory(data_root)) {
        std::vector<fs::path> categories;
        for (const auto& d : fs::directory_iterator(data_root))
            if (d.is_directory() && fs::is_directory(d.path() / "ground_truth")) categories.push_back(d.path());
        if (categories.size() == 1) data_root = categories.front();
    }
    std::optional<data::patch_options> patch;
    if (o.patch) patch = data::patch_options{.size = preset.resolution, .scale = scale};
    const data::defect_set set = choose_classes(open_real_defects(data_root, preset.resolution, stage1.image_channels, o.skip_bad_files, patch),
                                                o.classes, cmd + " --classes (dataset " + data_root.string() + ")");
    const data::defect_split split = data::split_defects(set, o.protocol == "all" ? data::split_protocol::all : data::split_protocol::one_third);
    std::printf("%s", data::counts_table(set, &split).c_str());
    const auto areas = data::class_area_ranges(set, split.train);

    // ---- trainer (and resume) ----
    train::defect_training_options topt;
    topt.background_checkpoint = o.background;
    topt.class_names = set.class_names;
    topt.batch = o.batch;
    topt.total_kimg = o.kimg;
    topt.seed = o.seed;
    topt.start_layer = o.start_layer;
    topt.composite_radius = o.composite_radius;
    topt.initial_mask_area = o.initial_mask_area < 0 ? data::median_area_fraction(set, split.train) : o.initial_mask_area;
    topt.patch_scale = scale;
    topt.augment = !o.no_augment;
    train::defect_trainer trainer(topt);
    // A refused resume (another stage-1 checkpoint, another configuration) must leave nothing in
    // the run folder: load before anything is written there.
    if (!o.resume.empty()) trainer.load(o.resume);
    else if (topt.initial_mask_area > 0)
        std::printf("the generator's masks start at %.2f%% of the image (%s)\n", 100.0 * trainer.mask_area_now(),
                    o.initial_mask_area < 0 ? "calibrated to the median training defect's area" : "--initial-mask-area");
    const auto& names = set.class_names;
    const auto num_classes = static_cast<core::index_t>(names.size());
    const core::index_t c = stage1.image_channels, r = preset.resolution;

    // The training defects, decoded once: the reals grid and the metrics' reference set are cut
    // from them, then the batch source owns them.
    // Under --patch: the defects at their scale; one fixed patch of each stands for it in the grid
    // and the metrics, and the batches cut new patches every time.
    std::optional<std::vector<data::scaled_defect>> scaled;
    if (patch) {
        scaled = data::load_scaled_defects(set, split.train, *patch);
        const auto large = data::defects_larger_than_patch(*scaled, patch->size, names.size());
        for (std::size_t k = 0; k < large.size(); ++k)
            if (large[k] > 0)
                std::printf("%s: %zu of its training defects are larger than a %lld-px patch and train on the patches that cover them\n",
                            names[k].c_str(), large[k], static_cast<long long>(patch->size));
    }
    data::defect_tensors train_defects = scaled ? data::reference_patches(*scaled, patch->size, o.seed) : data::load_defect_tensors(set, split.train);
    std::vector<std::size_t> train_per_class(names.size(), 0);
    for (const int k : train_defects.classes) ++train_per_class[static_cast<std::size_t>(k)];
    train::grid_labels real_labels{.columns = {"real defect", "mask outlined"}, .rows = {}};
    {
        const auto rows = defect_detail::rows_per_class(train_defects.classes, names, 2, &real_labels);
        const auto images = defect_detail::take_rows(train_defects.images, rows), masks = defect_detail::take_rows(train_defects.masks, rows);
        defect_detail::write_defect_grid(run / "reals.png", std::nullopt, images.cview(), masks.cview());
    }
    const auto metric_rows = defect_detail::rows_per_class(train_defects.classes, names, o.metrics_images, nullptr);
    const core::tensor<float> metric_real_images = defect_detail::take_rows(train_defects.images, metric_rows);
    const core::tensor<float> metric_real_masks = defect_detail::take_rows(train_defects.masks, metric_rows);
    std::vector<int> metric_real_classes;
    for (const auto i : metric_rows) metric_real_classes.push_back(train_defects.classes[static_cast<std::size_t>(i)]);
    defect_detail::defect_reals reals(std::move(train_defects), std::move(scaled), patch ? patch->size : 0, o.seed, o.x_flip);
    if (!o.resume.empty()) {
        reals.seek(static_cast<std::uint64_t>(trainer.steps_done()), o.batch);
        std::printf("resumed from %s at step %lld\n", o.resume.c_str(), static_cast<long long>(trainer.steps_done()));
    }
    nlohmann::json extra;
    extra["class_area"] = nlohmann::json::array();
    for (const auto& a : areas) extra["class_area"].push_back({a.min, a.max});
    extra["data"] = data_root.string();

    // ---- log and report (a resumed run cuts its log back to the checkpoint and redraws from it) ----
    const fs::path log_path = run / "log.jsonl";
    train::cut_log_at_checkpoint(log_path, trainer.steps_done());
    train::json_lines_log log(log_path);
    const nlohmann::json description = trainer.describe();
    train::training_report report("imbdef defect stage: " + std::string(preset.name) + ", " + std::to_string(names.size()) +
                                  (names.size() == 1 ? " class" : " classes"));
    nlohmann::json config = description["config"];
    config["data"] = data_root.string();
    config["protocol"] = o.protocol;
    config["background_checkpoint"] = o.background;
    config["x_flip"] = o.x_flip;
    config["metrics_images"] = o.metrics_images;
    config["threads"] = core::num_threads();
    report.set_config(config);
    {
        std::string counts;
        for (std::size_t k = 0; k < names.size(); ++k)
            counts += (k ? ", " : "") + names[k] + " " + std::to_string(train_per_class[k]);
        report.set_summary("classes (training defects)", counts);
    }
    report.set_summary("stage-1 checkpoint", fs::absolute(o.background).string());
    report.set_summary("stage-1 content hash", description["config"]["background_checkpoint_hash"].get<std::string>());
    report.set_summary("data", data_root.string() + " (protocol " + o.protocol + ")");
    report.set_reference("real training defects, up to two per class", "reals.png", real_labels);
    defect_detail::create_charts(report, names);
    train::grid_labels sample_labels{.columns = {"background", "defect", "defect, mask outlined"}, .rows = {}};
    for (const auto& name : names) sample_labels.rows.push_back({name, 2});
    for (const auto& rec : train::read_json_lines(log_path).records) {
        defect_detail::add_points(report, rec);
        if (rec.value("type", "") == "snapshot") report.add_samples(rec["caption"].get<std::string>(), rec["file"].get<std::string>(), sample_labels);
    }

    // ---- sampling the EMA generator: the snapshot grid and the metrics' set ----
    train::defect_sampler sampler(std::string(preset.name), stage1.image_channels, names, trainer.generator().start_layer(),
                                  trainer.options().composite_radius);
    const auto sync = [&] { imbdef::nn::copy_values<float>(trainer.generator_ema().views(), sampler.parameters().views()); };
    // Two samples per class, grouped by class, so that the grid's rows read class by class.
    std::vector<int> grid_classes;
    for (int k = 0; k < static_cast<int>(num_classes); ++k) grid_classes.insert(grid_classes.end(), {k, k});
    auto grid = sampler.make_batch(2 * num_classes);
    const core::index_t mn = o.metrics_images, chunk = std::min<core::index_t>(8, mn);
    auto metric_batch = sampler.make_batch(chunk);
    core::tensor<float> gen_images({mn, c, r, r}), gen_masks({mn, 1, r, r}), gen_backgrounds({mn, c, r, r}), gen_valid({mn, 1, r, r});
    std::vector<int> gen_classes(static_cast<std::size_t>(mn));
    metrics::defect_metric_options mopt;
    mopt.class_names = names;
    mopt.crops.size = std::min<core::index_t>(64, r);  // no larger than the images: upsampled crops add nothing

    auto kimg_of = [](std::int64_t images) { return static_cast<double>(images) / 1000.0; };
    const std::string of_total = [&] {
        char t[48];
        std::snprintf(t, sizeof t, "%g kimg", o.kimg);
        return std::string(t);
    }();
    std::int64_t last_measured = -1, last_snapshot = -1;
    auto measure = [&](const char* when) {
        const auto t0 = clock::now();
        sync();
        const auto all = sampler.all_classes();
        for (core::index_t i = 0; i < mn; i += chunk) {
            sampler.generate(0x5eed, static_cast<std::uint64_t>(i), all, metric_batch);
            const core::index_t m = std::min(chunk, mn - i);
            std::copy_n(metric_batch.image.data(), m * c * r * r, gen_images.data() + i * c * r * r);
            std::copy_n(metric_batch.mask.data(), m * r * r, gen_masks.data() + i * r * r);  // one pass: [N, 1, R, R]
            std::copy_n(metric_batch.background.data(), m * c * r * r, gen_backgrounds.data() + i * c * r * r);
            std::copy_n(metric_batch.valid_region.data(), m * r * r, gen_valid.data() + i * r * r);
            std::copy_n(metric_batch.classes.begin(), m, gen_classes.begin() + i);
        }
        const auto result = metrics::measure_defects(
            {.images = gen_images.cview(), .masks = gen_masks.cview(), .classes = gen_classes,
             .backgrounds = gen_backgrounds.cview(), .valid_regions = gen_valid.cview()},
            {.images = metric_real_images.cview(), .masks = metric_real_masks.cview(), .classes = metric_real_classes}, mopt);
        nlohmann::json rec = {{"type", "metrics"}, {"step", trainer.steps_done()}, {"kimg", kimg_of(trainer.images_seen())}, {"when", when}};
        rec.update(metrics::to_json(result));
        rec["seconds"] = std::chrono::duration<double>(clock::now() - t0).count();
        log.write(rec);
        defect_detail::add_points(report, rec);
        std::string small;
        for (const auto& k : result.per_class)
            if (!k.too_small.empty()) small += (small.empty() ? "" : "; ") + k.name + ": " + k.too_small;
        report.set_summary("classes without metrics of their own", small.empty() ? "none" : small);
        report.set_timing("one metrics measurement", rec["seconds"].get<double>());
        last_measured = trainer.images_seen();
    };
    auto snapshot = [&](const std::string& status) {
        trainer.save(run / "checkpoint.safetensors", extra);
        sync();
        sampler.generate(12345, 0, grid_classes, grid);
        char name[64], caption[64];
        std::snprintf(name, sizeof name, "samples/%08.3f-kimg.png", kimg_of(trainer.images_seen()));
        std::snprintf(caption, sizeof caption, "%.3f kimg", kimg_of(trainer.images_seen()));
        defect_detail::write_defect_grid(run / name, grid.background.cview(), grid.image.cview(), grid.mask.cview());
        log.write({{"type", "snapshot"}, {"step", trainer.steps_done()}, {"kimg", kimg_of(trainer.images_seen())}, {"file", name}, {"caption", caption}});
        report.add_samples(caption, name, sample_labels);
        report.set_status(status + ": " + caption + " of " + of_total);
        report.set_summary("images seen", std::to_string(trainer.images_seen()));
        report.set_summary("steps", std::to_string(trainer.steps_done()));
        report.set_summary("ADA p", std::to_string(trainer.augmentation_probability()));
        report.set_timing("wall time of this process", std::chrono::duration<double>(clock::now() - started).count());
        report.write(run / "report.html");
        last_snapshot = trainer.images_seen();
    };

    const auto total_images = static_cast<std::int64_t>(o.kimg * 1000.0);
    const auto every = [](double kimg) { return std::max<std::int64_t>(1, static_cast<std::int64_t>(kimg * 1000.0)); };
    train::progress_reporter progress(total_images, trainer.images_seen());
    std::int64_t next_snapshot = (trainer.images_seen() / every(o.snapshot_kimg) + 1) * every(o.snapshot_kimg);
    std::int64_t next_metrics = (trainer.images_seen() / every(o.metrics_kimg) + 1) * every(o.metrics_kimg);
    if (trainer.steps_done() == 0) measure("start");
    const auto out_of_time = [&] {
        return o.max_minutes > 0 && std::chrono::duration<double>(clock::now() - started).count() > 60.0 * o.max_minutes;
    };
    try {
        while (trainer.images_seen() < total_images && !out_of_time()) {
            const auto s = trainer.step(reals);
            nlohmann::json rec = {{"type", "step"},          {"step", s.step},
                                  {"kimg", kimg_of(s.images_seen)}, {"loss_g", s.loss_g},
                                  {"adv_img", s.loss_g_img}, {"adv_match", s.loss_g_match},
                                  {"esl", s.loss_esl},       {"rcl", s.loss_rcl},
                                  {"loss_d_img", s.loss_d_img}, {"loss_d_match", s.loss_d_match},
                                  {"loss_d_shuffled", s.loss_d_shuffled}, {"ada_p", s.ada_p}};
            if (s.r1_img) rec["r1_img"] = *s.r1_img;
            if (s.r1_match) rec["r1_match"] = *s.r1_match;
            log.write(rec);
            defect_detail::add_points(report, rec);
            const train::named_value values[] = {{"G", s.loss_g}, {"esl", s.loss_esl}, {"rcl", s.loss_rcl}, {"D_img", s.loss_d_img},
                                                 {"D_match", s.loss_d_match}};
            progress.update(s.images_seen, values);
            if (s.images_seen >= next_metrics) {
                measure("periodic");
                next_metrics += every(o.metrics_kimg);
            }
            if (s.images_seen >= next_snapshot) {
                snapshot("running");
                next_snapshot += every(o.snapshot_kimg);
            }
        }
    } catch (const train::non_finite_error& e) {
        return detail::stopped_by_non_finite(e, run, log, report);
    }
    const train::named_value none[] = {{"", 0}};
    progress.finish(trainer.images_seen(), std::span(none, 0));
    if (last_measured != trainer.images_seen()) measure("end");
    const bool finished = trainer.images_seen() >= total_images;
    const std::string status = finished ? "finished" : "stopped by --max-minutes; continue with --resume";
    if (last_snapshot != trainer.images_seen()) {
        snapshot(status);
    } else {  // the last step's snapshot is on disk: the report takes the end's measurement and status
        char caption[64];
        std::snprintf(caption, sizeof caption, "%.3f kimg", kimg_of(trainer.images_seen()));
        report.set_status(status + ": " + caption + " of " + of_total);
        report.write(run / "report.html");
    }
    std::printf("\nstage 2 done: %s\nsamples:    %s\nreport:     %s\nlog:        %s\n", (run / "checkpoint.safetensors").c_str(),
                (run / "samples").c_str(), (run / "report.html").c_str(), log_path.c_str());
    return 0;
}

}  // namespace imbdef_cli
