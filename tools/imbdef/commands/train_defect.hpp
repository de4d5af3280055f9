#pragma once
// imbdef train-defect: the stage-2 training run around train::defect_trainer.
//
//   RUN/checkpoint.safetensors   the latest state (kind imbdef.defect; written atomically at every
//                                snapshot and at the end): what `imbdef generate` samples from
//   RUN/log.jsonl                one record per step: every G term by name, the D losses, R1, ADA p
//   RUN/samples/<kimg>.png       the EMA generator at fixed seeds, per sample background | defect |
//                                defect with its mask outlined, one row per class
//   RUN/reals.png                the training defects with their masks, the same way
//
// The defects come from --data (MVTec AD, Magnetic Tile, image + mask folders, the MPDD layout);
// without it, from the synthetic dataset that stage 1's run wrote next to its checkpoint
// (<stage-1 run>/synthetic), else a fresh one. With --resume the run continues bit for bit.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <imbdef/data/defect_batches.hpp>
#include <imbdef/data/defect_set.hpp>
#include <imbdef/data/image_io.hpp>
#include <imbdef/data/synthetic.hpp>
#include <imbdef/train/defect_sampler.hpp>
#include <imbdef/train/defect_trainer.hpp>
#include <imbdef/train/log.hpp>
#include <imbdef/train/progress.hpp>

namespace imbdef_cli {

struct train_defect_options {
    std::string background;  // the stage-1 checkpoint
    std::string data;        // a defect dataset; empty: the synthetic one
    std::string out;
    std::string resume;
    std::string protocol = "all";  // all, or one-third (the literature's: the first third of each class trains)
    double kimg = 4;
    double snapshot_kimg = 1;
    double max_minutes = 0;  // 0: no time bound; else stop (with a checkpoint) after this long, to --resume later
    std::uint64_t seed = 0;
    int batch = 8;
    int start_layer = -1;
    bool x_flip = true;
    bool no_augment = false;
    bool skip_bad_files = false;
};

namespace defect_detail {

namespace fs = std::filesystem;
namespace core = imbdef::core;

// One row per sample: background | defect | defect with its mask's outline in red.
inline void write_defect_grid(const fs::path& path, core::const_view<float> backgrounds, core::const_view<float> defects,
                              core::const_view<float> masks) {
    const auto n = defects.size(0), c = defects.size(1), r = defects.size(2);
    const std::size_t gap = 2, cell = static_cast<std::size_t>(r) + gap;
    xt::xtensor<std::uint8_t, 3> out = xt::zeros<std::uint8_t>({cell * static_cast<std::size_t>(n), cell * 3, std::size_t{3}});
    const auto inside = [&](core::index_t i, core::index_t y, core::index_t x) {
        return y >= 0 && y < r && x >= 0 && x < r && masks(i, 0, y, x) > 0.0f;
    };
    for (core::index_t i = 0; i < n; ++i)
        for (core::index_t y = 0; y < r; ++y)
            for (core::index_t x = 0; x < r; ++x) {
                const bool edge = inside(i, y, x) && !(inside(i, y - 1, x) && inside(i, y + 1, x) && inside(i, y, x - 1) && inside(i, y, x + 1));
                for (int k = 0; k < 3; ++k) {
                    const auto u8 = [](float v) { return static_cast<std::uint8_t>(std::clamp((v + 1.0f) * 127.5f + 0.5f, 0.0f, 255.0f)); };
                    const std::size_t oy = static_cast<std::size_t>(i) * cell + static_cast<std::size_t>(y), ox = static_cast<std::size_t>(x);
                    out(oy, ox, k) = u8(backgrounds(i, c == 3 ? k : 0, y, x));
                    const std::uint8_t d = u8(defects(i, c == 3 ? k : 0, y, x));
                    out(oy, cell + ox, k) = d;
                    out(oy, 2 * cell + ox, k) = edge ? (k == 0 ? 255 : 0) : d;
                }
            }
    imbdef::data::write_png(path, out);
}

}  // namespace defect_detail

inline int run_train_defect(const train_defect_options& o) {
    namespace fs = std::filesystem;
    namespace core = imbdef::core;
    namespace data = imbdef::data;
    namespace train = imbdef::train;
    const std::string cmd = "imbdef train-defect";
    IMBDEF_REQUIRE(!o.background.empty(), cmd + " --background", "a stage-1 checkpoint", "none");
    IMBDEF_REQUIRE(!o.out.empty(), cmd + " --out", "an output folder", "none");
    IMBDEF_REQUIRE(o.kimg > 0 && o.snapshot_kimg > 0, cmd + " --kimg/--snapshot-kimg", "positive numbers",
                   std::to_string(o.kimg) + " / " + std::to_string(o.snapshot_kimg));
    IMBDEF_REQUIRE(o.protocol == "all" || o.protocol == "one-third", cmd + " --protocol", "all or one-third", "'" + o.protocol + "'");
    const auto stage1 = train::read_background_checkpoint(o.background);
    const auto& preset = *stage1.preset;
    const fs::path run = o.out;
    std::error_code ec;
    fs::create_directories(run / "samples", ec);
    IMBDEF_REQUIRE(!ec, cmd + " --out " + run.string(), "a folder that can be created and written", ec.message());

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
    data::defect_set_options dopt;
    dopt.preprocess.resolution = preset.resolution;
    dopt.preprocess.channels = stage1.image_channels;
    dopt.preprocess.square = data::square_mode::pad_edge;
    dopt.skip_bad_files = o.skip_bad_files;
    dopt.on_skip = [](const data::skipped_file& f) { std::fprintf(stderr, "skipped %s: %s\n", f.path.c_str(), f.reason.c_str()); };
    const data::defect_set set = data::open_defect_set(data_root, dopt);
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
    topt.augment = !o.no_augment;
    train::defect_trainer trainer(topt);
    // The training defects, decoded once: a grid of them, then the batch source owns them.
    data::defect_tensors train_defects = data::load_defect_tensors(set, split.train);
    {
        const core::index_t g = std::min<core::index_t>(8, train_defects.images.size(0)), c = train_defects.images.size(1),
                            r = train_defects.images.size(2);
        const core::const_view<float> images(train_defects.images.data(), {g, c, r, r});
        defect_detail::write_defect_grid(run / "reals.png", images, images, core::const_view<float>(train_defects.masks.data(), {g, 1, r, r}));
    }
    data::defect_batches reals(std::move(train_defects), o.seed, o.x_flip);
    if (!o.resume.empty()) {
        trainer.load(o.resume);
        reals.seek(static_cast<std::uint64_t>(trainer.steps_done()), o.batch);
        std::printf("resumed from %s at step %lld\n", o.resume.c_str(), static_cast<long long>(trainer.steps_done()));
    }
    nlohmann::json extra;
    extra["class_area"] = nlohmann::json::array();
    for (const auto& a : areas) extra["class_area"].push_back({a.min, a.max});
    extra["data"] = data_root.string();

    // What a snapshot writes: the checkpoint (with the class areas the sampler's rejection reads)
    // and a grid of the EMA generator at fixed seeds.
    train::defect_sampler sampler(std::string(preset.name), stage1.image_channels, set.class_names, trainer.generator().start_layer());
    auto batch = sampler.make_batch(2 * sampler.num_classes());
    const auto snapshot = [&] {
        trainer.save(run / "checkpoint.safetensors", extra);
        imbdef::nn::copy_values<float>(trainer.generator_ema().views(), sampler.parameters().views());
        sampler.generate(12345, 0, sampler.all_classes(), batch);
        char name[64];
        std::snprintf(name, sizeof name, "samples/%08.3f-kimg.png", static_cast<double>(trainer.images_seen()) / 1000.0);
        defect_detail::write_defect_grid(run / name, batch.background.cview(), batch.image.cview(), batch.mask.cview());
    };

    const auto total_images = static_cast<std::int64_t>(o.kimg * 1000.0);
    const auto snapshot_images = static_cast<std::int64_t>(o.snapshot_kimg * 1000.0);
    train::json_lines_log log(run / "log.jsonl");
    train::progress_reporter progress(total_images, trainer.images_seen());
    std::int64_t next_snapshot = (trainer.images_seen() / snapshot_images + 1) * snapshot_images;
    const auto started = std::chrono::steady_clock::now();
    const auto out_of_time = [&] {
        return o.max_minutes > 0 &&
               std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() > 60.0 * o.max_minutes;
    };
    while (trainer.images_seen() < total_images && !out_of_time()) {
        const auto s = trainer.step(reals);
        nlohmann::json rec = {{"step", s.step},          {"kimg", static_cast<double>(s.images_seen) / 1000.0},
                              {"loss_g", s.loss_g},      {"adv_img", s.loss_g_img},
                              {"adv_match", s.loss_g_match}, {"esl", s.loss_esl},
                              {"rcl", s.loss_rcl},       {"loss_d_img", s.loss_d_img},
                              {"loss_d_match", s.loss_d_match}, {"loss_d_shuffled", s.loss_d_shuffled},
                              {"ada_p", s.ada_p}};
        if (s.r1_img) rec["r1_img"] = *s.r1_img;
        if (s.r1_match) rec["r1_match"] = *s.r1_match;
        log.write(rec);
        const train::named_value values[] = {{"G", s.loss_g}, {"esl", s.loss_esl}, {"rcl", s.loss_rcl}, {"D_img", s.loss_d_img},
                                             {"D_match", s.loss_d_match}};
        progress.update(s.images_seen, values);
        if (s.images_seen >= next_snapshot) {
            snapshot();
            next_snapshot += snapshot_images;
        }
    }
    snapshot();
    std::printf("\nstage 2 done: %s (samples in %s)\n", (run / "checkpoint.safetensors").c_str(), (run / "samples").c_str());
    return 0;
}

}  // namespace imbdef_cli
