#pragma once
// imbdef train-background: the stage-1 training run around train::background_trainer.
//
//   RUN/checkpoint.safetensors   the latest state (written atomically at every snapshot and at the end)
//   RUN/log.jsonl                one record per logged step, plus metrics and snapshot records
//   RUN/samples/<images>.png     sample grids of the EMA generator at fixed seeds (image | mask)
//   RUN/reals.png                a grid of the training images and their valid regions
//   RUN/report.html              sample grids over time, loss and SWD curves, config, timings
//
// With --resume the run continues bit for bit from the checkpoint (the log is cut back to it).
// Without --data the built-in synthetic dataset is written to RUN/synthetic and used.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <imbdef/data/background_loader.hpp>
#include <imbdef/data/background_patches.hpp>
#include <imbdef/data/image_io.hpp>
#include <imbdef/data/synthetic.hpp>
#include <imbdef/metrics/swd.hpp>
#include <imbdef/train/background_sampler.hpp>
#include <imbdef/train/background_trainer.hpp>
#include <imbdef/train/log.hpp>
#include <imbdef/train/progress.hpp>
#include <imbdef/train/report.hpp>

#include "real_defects.hpp"

namespace imbdef_cli {

struct train_background_options {
    std::string data;                // a folder of images or a dataset; empty: the synthetic dataset
    std::string out;
    std::string preset = "cpu64";
    std::string resume;
    std::string valid_region;   // auto, full-frame, files; empty: files when the dataset has a
                                // valid_region/ folder (the synthetic data does), else auto
    double kimg = 10;
    double snapshot_kimg = 1;   // checkpoint + sample grid
    double metrics_kimg = 1;    // SWD against the training images
    double max_minutes = 0;     // 0: no time bound; else stop (with a checkpoint) after this long
    double stop_at_kimg = 0;    // 0: run to --kimg; else stop (with a checkpoint) here, to resume later
    std::uint64_t seed = 0;
    int batch = 8;
    int channels = 0;           // 0: follow the data
    double gamma = -1;
    bool x_flip = false;
    bool no_augment = false;
    bool skip_bad_files = false;
    int swd_images = 256;
    bool patch = false;         // native-scale patches of the preset's resolution instead of whole images
    double scale = 1.0;         // with patch: resample the images by this first
};

namespace detail {

namespace fs = std::filesystem;
namespace core = imbdef::core;

// 0.7 as "0.7", not "0.700000".
inline std::string short_number(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

// A run's real batches: whole images through the threaded loader, or native-scale patches held
// in memory (--patch). Both are functions of (seed, batches served).
class background_reals {
public:
    background_reals(const fs::path& root, const imbdef::data::background_options& options, const imbdef::data::loader_options& batches,
                     bool patch, double scale) {
        namespace data = imbdef::data;
        if (!patch) {
            whole_ = std::make_unique<data::background_loader>(root, options, batches);
            return;
        }
        const core::index_t p = options.preprocess.resolution;
        patches_ = std::make_unique<data::background_patches>(
            data::load_scaled_backgrounds(data::background_sources(root), options, {.size = p, .scale = scale}, root.string()), p,
            batches.seed, batches.x_flip);
    }
    int channels() const { return whole_ ? whole_->channels() : patches_->channels(); }
    core::index_t size() const { return whole_ ? whole_->size() : patches_->size(); }
    void seek(std::uint64_t batches, core::index_t batch) {
        if (whole_) whole_->seek(batches);
        else patches_->seek(batches, batch);
    }
    void next(core::view<float> images, core::view<float> masks) {
        if (whole_) whole_->next(images, masks);
        else patches_->next(images, masks);
    }
    // What SWD measures against and reals.png shows: every image (whole images), or `patches`
    // fixed reference patches.
    imbdef::data::background_set reference(core::index_t patches) const {
        if (whole_) return whole_->load_all();
        const core::index_t p = patches_->patch();
        imbdef::data::background_set out{core::tensor<float>(core::shape{patches, channels(), p, p}),
                                         core::tensor<float>(core::shape{patches, 1, p, p}), {}};
        patches_->reference(out.images.view(), out.masks.view());
        return out;
    }

private:
    std::unique_ptr<imbdef::data::background_loader> whole_;
    std::unique_ptr<imbdef::data::background_patches> patches_;
};

// A grid of `count` samples, each as [image | valid region] cells, written as an RGB PNG.
// images [N, C, R, R] in [-1, 1]; masks [N, 1, R, R] in {0, 1} or {-1, 1} (> 0 is inside).
inline void write_grid(const fs::path& path, core::const_view<float> images, core::const_view<float> masks, int columns) {
    const auto n = images.size(0), c = images.size(1), r = images.size(2);
    const auto rows = (n + columns - 1) / columns;
    const std::size_t gap = 2, cell_w = static_cast<std::size_t>(2 * r) + gap, cell_h = static_cast<std::size_t>(r) + gap;
    xt::xtensor<std::uint8_t, 3> out = xt::zeros<std::uint8_t>({cell_h * rows, cell_w * columns, std::size_t{3}});
    for (core::index_t i = 0; i < n; ++i) {
        const std::size_t y0 = static_cast<std::size_t>(i / columns) * cell_h, x0 = static_cast<std::size_t>(i % columns) * cell_w;
        for (core::index_t y = 0; y < r; ++y)
            for (core::index_t x = 0; x < r; ++x) {
                for (int k = 0; k < 3; ++k) {
                    const float v = images(i, c == 3 ? k : 0, y, x);
                    const float u = std::clamp((v + 1.0f) * 127.5f + 0.5f, 0.0f, 255.0f);
                    out(y0 + y, x0 + x, k) = static_cast<std::uint8_t>(u);
                }
                const bool inside = masks(i, 0, y, x) > 0.0f;
                out(y0 + y, x0 + r + x, 0) = inside ? 255 : 30;
                out(y0 + y, x0 + r + x, 1) = inside ? 200 : 30;
                out(y0 + y, x0 + r + x, 2) = inside ? 60 : 30;
            }
    }
    imbdef::data::write_png(path, out);
}

// "files": the mask of <root>/<path>.<ext> is <root>/valid_region/<path>.png (the layout of the
// synthetic dataset; any dataset can add such a folder).
inline imbdef::data::valid_region_choice parse_valid_region(const std::string& s, const fs::path& root) {
    if (s == "auto") return imbdef::data::otsu_foreground{};
    if (s == "full-frame") return imbdef::data::full_frame{};
    if (s == "files") {
        imbdef::data::from_files f;
        f.mask_path = [root](const fs::path& image) {
            fs::path rel = image.lexically_relative(root);
            if (rel.empty() || *rel.begin() == "..") rel = image.filename();
            return (root / "valid_region" / rel).replace_extension(".png");
        };
        return f;
    }
    throw imbdef::error("imbdef train-background --valid-region", "auto, full-frame or files", "'" + s + "'");
}

// Removes what a killed run left half-written: the temporaries of atomic writes ("<file>.tmp-*",
// core/atomic_file.hpp). The destinations themselves are always whole.
inline void remove_stale_temporaries(const fs::path& run) {
    std::error_code ec;
    for (const fs::path& dir : {run, run / "samples"})
        for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
            if (it->path().filename().string().find(".tmp-") != std::string::npos) fs::remove(it->path(), ec);
}

// A run folder ready for a trainer (either stage): created with its samples/ folder, cleared of
// what a killed run left half-written, and proven writable now, not after the first hour.
inline void prepare_run_folder(const fs::path& run, const std::string& cmd) {
    std::error_code ec;
    fs::create_directories(run / "samples", ec);
    IMBDEF_REQUIRE(!ec, cmd + " --out " + run.string(), "a folder that can be created and written", ec.message());
    remove_stale_temporaries(run);
    const fs::path probe = run / ".write-test";
    const std::string ok = "ok";
    imbdef::core::write_file_atomically(probe, std::as_bytes(std::span(ok)));
    fs::remove(probe, ec);
}

// A non-finite loss stopped the run: say so (stderr, log, report) and point at the last good
// checkpoint. Returns the exit code of such a stop, 2.
inline int stopped_by_non_finite(const imbdef::train::non_finite_error& e, const fs::path& run, imbdef::train::json_lines_log& log,
                                 imbdef::train::training_report& report) {
    std::fprintf(stderr, "\nimbdef: training stopped: %s\n", e.what());
    std::fprintf(stderr, "the last good state is %s\n", (run / "checkpoint.safetensors").c_str());
    log.write({{"type", "stopped"}, {"step", e.step()}, {"reason", e.what()}});
    report.set_status(std::string("stopped: ") + e.what());
    report.write(run / "report.html");
    return 2;
}

}  // namespace detail

inline int run_train_background(const train_background_options& o) {
    namespace fs = std::filesystem;
    namespace core = imbdef::core;
    namespace data = imbdef::data;
    namespace train = imbdef::train;
    using clock = std::chrono::steady_clock;
    const auto started = clock::now();
    const std::string cmd = "imbdef train-background";

    IMBDEF_REQUIRE(!o.out.empty(), cmd + " --out", "an output folder", "none");
    IMBDEF_REQUIRE(o.kimg > 0, cmd + " --kimg", "a positive number of thousands of images", std::to_string(o.kimg));
    IMBDEF_REQUIRE(o.snapshot_kimg > 0 && o.metrics_kimg > 0, cmd + " --snapshot-kimg/--metrics-kimg", "positive intervals",
                   std::to_string(o.snapshot_kimg) + " / " + std::to_string(o.metrics_kimg));
    const fs::path run = o.out;
    detail::prepare_run_folder(run, cmd);

    // ---- data ----
    const auto& preset = imbdef::models::preset_by_name(o.preset);
    fs::path data_root = o.data;
    if (data_root.empty()) {
        data::synthetic_config sc;
        sc.resolution = std::max(64, preset.resolution);
        data_root = run / "synthetic";
        data_root = data::ensure_synthetic_dataset(sc, data_root);
        std::printf("no --data: using the built-in synthetic dataset at %s\n", data_root.c_str());
    }
    data::background_options dopt;
    dopt.preprocess.resolution = preset.resolution;
    dopt.preprocess.channels = o.channels;
    const std::string region = !o.valid_region.empty()                     ? o.valid_region
                               : fs::is_directory(data_root / "valid_region") ? std::string("files")
                                                                              : std::string("auto");
    dopt.valid_region = detail::parse_valid_region(region, data_root);
    dopt.skip_bad_files = o.skip_bad_files;
    dopt.on_skip = print_skipped;
    data::loader_options lopt;
    lopt.batch_size = o.batch;
    lopt.seed = o.seed;
    lopt.x_flip = o.x_flip;

    // ---- trainer (and resume) ----
    // The channel count follows the data; a first scan tells it.
    auto loader = std::make_unique<detail::background_reals>(fs::path(data_root), dopt, lopt, o.patch, o.scale);
    train::background_training_options topt;
    topt.preset = o.preset;
    topt.image_channels = loader->channels();
    topt.batch = o.batch;
    topt.total_kimg = o.kimg;
    topt.seed = o.seed;
    topt.r1_gamma = o.gamma;
    topt.augment = !o.no_augment;
    topt.patch_scale = o.patch ? o.scale : 0;
    train::background_trainer trainer(topt);
    if (!o.resume.empty()) {
        trainer.load(o.resume);
        loader->seek(static_cast<std::uint64_t>(trainer.steps_done()), o.batch);
        std::printf("resumed from %s at step %lld (%.3f kimg)\n", o.resume.c_str(), static_cast<long long>(trainer.steps_done()),
                    static_cast<double>(trainer.images_seen()) / 1000.0);
    }
    std::printf("training %s on %lld images (%d channel%s, %s%dx%d%s) from %s\n", o.preset.c_str(),
                static_cast<long long>(loader->size()), loader->channels(), loader->channels() == 1 ? "" : "s",
                o.patch ? "native-scale patches of " : "", preset.resolution, preset.resolution,
                o.patch ? (" at scale " + detail::short_number(o.scale)).c_str() : "", data_root.c_str());

    // Real images for SWD and the reals grid, decoded once.
    const data::background_set reals = loader->reference(o.swd_images);
    const core::index_t swd_n = std::min<core::index_t>(o.swd_images, reals.images.size(0));
    const core::index_t r = preset.resolution, c = loader->channels();
    core::tensor<float> swd_reals({swd_n, c, r, r});
    std::copy_n(reals.images.data(), swd_reals.numel(), swd_reals.data());
    {
        const core::index_t g = std::min<core::index_t>(16, reals.images.size(0));
        detail::write_grid(run / "reals.png",
                           core::const_view<float>(reals.images.data(), core::shape{g, c, r, r}),
                           core::const_view<float>(reals.masks.data(), core::shape{g, 1, r, r}), 4);
    }

    // ---- logging ----
    const fs::path log_path = run / "log.jsonl";
    train::cut_log_at_checkpoint(log_path, trainer.steps_done());
    train::json_lines_log log(log_path);
    train::training_report report("imbdef background stage: " + o.preset);
    nlohmann::json config = trainer.describe()["config"];
    config["data"] = data_root.string();
    config["images"] = loader->size();
    config["valid_region"] = region;
    config["x_flip"] = o.x_flip;
    config["patch"] = o.patch ? nlohmann::json{{"size", preset.resolution}, {"scale", o.scale}} : nlohmann::json(nullptr);
    config["threads"] = core::num_threads();
    report.set_config(config);
    // Rebuild the charts of a resumed run from its log.
    for (const auto& rec : train::read_json_lines(log_path).records) {
        if (!rec.contains("kimg")) continue;
        const double x = rec["kimg"].get<double>();
        if (rec.value("type", "") == "step") {
            report.add_point("losses", "G", x, rec["loss_g"].get<double>());
            report.add_point("losses", "D_img", x, rec["loss_d_img"].get<double>());
            report.add_point("losses", "D_match", x, rec["loss_d_match"].get<double>());
            report.add_point("ADA p", "p", x, rec["ada_p"].get<double>());
        } else if (rec.value("type", "") == "metrics") {
            report.add_point("SWD x1000 (lower is more realistic)", "SWD", x, rec["swd"].get<double>());
        } else if (rec.value("type", "") == "snapshot") {
            report.add_samples(rec["caption"].get<std::string>(), rec["file"].get<std::string>());
        }
    }

    train::background_sampler sampler(o.preset, static_cast<int>(c));
    auto sample_ema = [&](core::tensor<float>& images, core::tensor<float>& masks, std::uint64_t seed) {
        sampler.set_parameters(trainer.generator_ema().views());
        const core::index_t n = images.size(0), chunk = 8;
        for (core::index_t i = 0; i < n; i += chunk) {
            const core::index_t m = std::min(chunk, n - i);
            sampler.generate(seed, static_cast<std::uint64_t>(i), core::view<float>(images.data() + i * c * r * r, {m, c, r, r}),
                             core::view<float>(masks.data() + i * r * r, {m, 1, r, r}));
        }
    };
    core::tensor<float> grid_images({16, c, r, r}), grid_masks({16, 1, r, r});
    core::tensor<float> swd_fakes({swd_n, c, r, r}), swd_masks({swd_n, 1, r, r});

    auto kimg_of = [](std::int64_t images) { return static_cast<double>(images) / 1000.0; };
    auto measure = [&](const char* when) {
        const auto t0 = clock::now();
        sample_ema(swd_fakes, swd_masks, 0x5eed);
        const auto swd = imbdef::metrics::sliced_wasserstein_distance(swd_fakes.cview(), swd_reals.cview());
        const double seconds = std::chrono::duration<double>(clock::now() - t0).count();
        const double x = kimg_of(trainer.images_seen());
        log.write({{"type", "metrics"}, {"step", trainer.steps_done()}, {"kimg", x}, {"swd", swd.mean},
                   {"swd_levels", swd.per_level}, {"seconds", seconds}, {"when", when}});
        report.add_point("SWD x1000 (lower is more realistic)", "SWD", x, swd.mean);
        return swd.mean;
    };
    auto snapshot = [&](const char* status) {
        char name[40];
        std::snprintf(name, sizeof name, "samples/%09lld.png", static_cast<long long>(trainer.images_seen()));
        sample_ema(grid_images, grid_masks, 0x9a1d);
        detail::write_grid(run / name, grid_images.cview(), grid_masks.cview(), 4);
        trainer.save(run / "checkpoint.safetensors", {{"data", data_root.string()}});
        char caption[64];
        std::snprintf(caption, sizeof caption, "%.2f kimg", kimg_of(trainer.images_seen()));
        log.write({{"type", "snapshot"}, {"step", trainer.steps_done()}, {"kimg", kimg_of(trainer.images_seen())},
                   {"file", name}, {"caption", caption}});
        report.add_samples(caption, name);
        report.set_status(std::string(status) + ": " + caption + " of " + std::to_string(o.kimg) + " kimg");
        report.set_summary("images seen", std::to_string(trainer.images_seen()));
        report.set_summary("steps", std::to_string(trainer.steps_done()));
        report.set_summary("ADA p", std::to_string(trainer.augmentation_probability()));
        report.set_timing("wall time of this process", std::chrono::duration<double>(clock::now() - started).count());
        report.write(run / "report.html", {.refresh_seconds = 0});
    };

    const std::int64_t total = static_cast<std::int64_t>(o.kimg * 1000.0);
    const auto every = [&](double kimg) { return std::max<std::int64_t>(1, static_cast<std::int64_t>(kimg * 1000.0)); };
    std::int64_t next_snapshot = (trainer.images_seen() / every(o.snapshot_kimg) + 1) * every(o.snapshot_kimg);
    std::int64_t next_metrics = (trainer.images_seen() / every(o.metrics_kimg) + 1) * every(o.metrics_kimg);
    if (trainer.steps_done() == 0) measure("start");

    train::progress_reporter progress(total, trainer.images_seen());
    bool stopped_by_time = false;
    try {
        while (trainer.images_seen() < total) {
            const auto s = trainer.step(*loader);
            const double x = kimg_of(s.images_seen);
            nlohmann::json rec = {{"type", "step"}, {"step", s.step}, {"kimg", x}, {"loss_g", s.loss_g},
                                  {"loss_g_img", s.loss_g_img}, {"loss_g_match", s.loss_g_match},
                                  {"loss_d_img", s.loss_d_img}, {"loss_d_match", s.loss_d_match},
                                  {"real_sign", s.real_sign}, {"ada_p", s.ada_p}, {"progress", s.progress}};
            if (s.r1_img) rec["r1_img"] = *s.r1_img;
            if (s.r1_match) rec["r1_match"] = *s.r1_match;
            log.write(rec);
            if (s.step % 4 == 0) {
                report.add_point("losses", "G", x, s.loss_g);
                report.add_point("losses", "D_img", x, s.loss_d_img);
                report.add_point("losses", "D_match", x, s.loss_d_match);
                report.add_point("ADA p", "p", x, s.ada_p);
            }
            const imbdef::train::named_value values[] = {{"G", s.loss_g}, {"D_img", s.loss_d_img}, {"D_match", s.loss_d_match}};
            progress.update(s.images_seen, values);
            if (s.images_seen >= next_metrics) {
                measure("periodic");
                next_metrics += every(o.metrics_kimg);
            }
            if (s.images_seen >= next_snapshot || s.images_seen >= total) {
                snapshot(s.images_seen >= total ? "finished" : "running");
                next_snapshot += every(o.snapshot_kimg);
            }
            if ((o.max_minutes > 0 &&
                 std::chrono::duration<double>(clock::now() - started).count() > o.max_minutes * 60.0) ||
                (o.stop_at_kimg > 0 && s.images_seen >= static_cast<std::int64_t>(o.stop_at_kimg * 1000.0))) {
                stopped_by_time = true;
                break;
            }
        }
    } catch (const imbdef::train::non_finite_error& e) {
        return detail::stopped_by_non_finite(e, run, log, report);
    }
    const imbdef::train::named_value none[] = {{"", 0}};
    progress.finish(trainer.images_seen(), std::span(none, 0));
    if (stopped_by_time) {
        measure("end");
        snapshot("stopped before the end (--max-minutes or --stop-at-kimg); resume with --resume");
    } else if (trainer.images_seen() % every(o.metrics_kimg) != 0) {
        measure("end");
        report.write(run / "report.html");
    }
    std::printf("checkpoint: %s\nsamples:    %s\nreport:     %s\nlog:        %s\n", (run / "checkpoint.safetensors").c_str(),
                (run / "samples").c_str(), (run / "report.html").c_str(), log_path.c_str());
    return 0;
}

}  // namespace imbdef_cli
