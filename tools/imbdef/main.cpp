// The imbdef command-line program. Each capability of the library adds its subcommand here; the
// work itself lives in the headers, so a C++ user can do everything this program does.
//
//   imbdef version                  library version, threads, CUDA support of this build
//   imbdef rng --seed S [...]       Philox draws, to check reproducibility across machines and GPUs
//   imbdef synth-data --out DIR     the built-in synthetic dataset, in the MVTec AD layout
//   imbdef info --preset P          layer tables of a preset's networks: parameters and FLOPs
//   imbdef info --preset P --stage defect   the defect generator's: what the defect path adds
//   imbdef info CKPT                what a checkpoint holds: kind, configuration, progress, tensors
//   imbdef benchmark --preset P     images per second of generation and of the training steps
//   imbdef train-background         stage 1: train the background generator (and its valid region)
//   imbdef generate --checkpoint C  background images and valid-region masks from a checkpoint
//   imbdef copy-paste               the copy-paste baseline, written as the same labelled dataset
//   imbdef evaluate --dataset DIR   the stage-2 metrics of a labelled dataset against real defects
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <imbdef/data/synthetic.hpp>

#include "commands/benchmark.hpp"
#include "commands/copy_paste.hpp"
#include "commands/evaluate.hpp"
#include "commands/export_reals.hpp"
#include "commands/generate.hpp"
#include "commands/generate_composed.hpp"
#include "commands/generate_defects.hpp"
#include "commands/info.hpp"
#include "commands/train_background.hpp"
#include "commands/train_defect.hpp"
#include <imbdef/imbdef.hpp>

namespace core = imbdef::core;

namespace {

void print_version() {
    std::printf("imbdef %d.%d.%d\n", imbdef::version_major, imbdef::version_minor, imbdef::version_patch);
    std::printf("threads: %d (set with --threads or IMBDEF_NUM_THREADS)\n", core::num_threads());
}

struct rng_options {
    std::uint64_t seed = 0;
    std::uint64_t stream = 0;
    std::uint64_t offset = 0;
    core::index_t count = 8;
    std::string distribution = "normal";
};

void print_draws(const rng_options& o) {
    core::tensor<float> values({o.count});
    const core::philox_stream rng{.seed = o.seed, .stream = o.stream};
    if (o.distribution == "normal")
        core::fill_normal(values.view(), rng, o.offset);
    else if (o.distribution == "uniform")
        core::fill_uniform(values.view(), rng, o.offset);
    else
        for (core::index_t i = 0; i < o.count; ++i)
            std::printf("%08x\n", rng.bits(o.offset + static_cast<std::uint64_t>(i)));
    if (o.distribution != "bits")
        for (float v : values) std::printf("%.9g\n", static_cast<double>(v));
}

struct synth_options {
    std::string out;
    imbdef::data::synthetic_config config;
    std::vector<std::string> scenes{"disc"};
    std::vector<std::string> defects;
    bool overwrite = false;
};

void write_synthetic(synth_options& o) {
    namespace data = imbdef::data;
    o.config.scenes.clear();
    for (const auto& s : o.scenes) o.config.scenes.push_back(data::parse_scene_kind(s));
    if (!o.defects.empty()) {
        o.config.defects.clear();
        for (const auto& d : o.defects) o.config.defects.push_back(data::parse_defect_kind(d));
    }
    o.config.validate();
    const auto summary = data::write_synthetic_dataset(o.config, o.out, {.overwrite = o.overwrite});
    std::printf("synthetic dataset '%s' written to %s\n", o.config.category_name().c_str(), summary.root.c_str());
    for (const auto& [folder, count] : summary.counts) std::printf("  %-24s %lld images\n", folder.c_str(), static_cast<long long>(count));
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"imbdef: defect image generation with exact masks for industrial inspection"};
    app.require_subcommand(1);
    int threads = 0;
    app.add_option("--threads", threads, "Worker threads (default: IMBDEF_NUM_THREADS or all cores)")
        ->check(CLI::Range(1, 4096));

    auto* version = app.add_subcommand("version", "Print the library version and this build's configuration");

    rng_options rng;
    auto* rng_cmd = app.add_subcommand("rng", "Print Philox4x32-10 draws: the n-th value of (seed, stream) "
                                               "is the same on every machine, CPU or GPU");
    rng_cmd->add_option("--seed", rng.seed, "Key of the stream")->required();
    rng_cmd->add_option("--stream", rng.stream, "Stream id (the counter's high 64 bits)");
    rng_cmd->add_option("--offset", rng.offset, "Index of the first draw");
    rng_cmd->add_option("--count", rng.count, "Number of draws")->check(CLI::Range(1, 100000000));
    rng_cmd->add_option("--distribution", rng.distribution, "normal, uniform (in (0, 1)) or bits (raw 32-bit words)")
        ->check(CLI::IsMember({"normal", "uniform", "bits"}));

    synth_options synth;
    auto* synth_cmd = app.add_subcommand("synth-data", "Write the built-in synthetic dataset (procedural surfaces and parts "
                                                        "with defects, exact masks and valid regions) in the MVTec AD layout");
    synth_cmd->add_option("--out", synth.out, "Output folder; the dataset goes to <out>/<category>")->required();
    synth_cmd->add_option("--seed", synth.config.seed, "Seed: the same seed gives the same bytes");
    synth_cmd->add_option("--resolution", synth.config.resolution, "Square image size")->check(CLI::Range(32, 1024));
    synth_cmd->add_option("--channels", synth.config.channels, "1 (grey) or 3 (RGB)")->check(CLI::IsMember({1, 3}));
    synth_cmd->add_option("--good", synth.config.good_count, "Defect-free training images")->check(CLI::NonNegativeNumber);
    synth_cmd->add_option("--test-good", synth.config.test_good_count, "Defect-free test images")->check(CLI::NonNegativeNumber);
    synth_cmd->add_option("--defective", synth.config.defect_count, "Defective images with masks")->check(CLI::NonNegativeNumber);
    synth_cmd->add_option("--scenes", synth.scenes, "brushed_metal, woven_fabric, wood, speckled_ceramic, disc, plate");
    synth_cmd->add_option("--defects", synth.defects, "scratch, crack, hole, stain, fray (default: all that apply)");
    synth_cmd->add_option("--category", synth.config.category, "Folder name (default: the scene, or 'mixed')");
    synth_cmd->add_flag("--overwrite", synth.overwrite, "Replace an existing dataset in that folder");

    std::string info_preset = "cpu64", info_checkpoint, info_stage = "background";
    int info_channels = 3, info_classes = 1, info_start_layer = -1;
    auto* info_cmd = app.add_subcommand("info", "Print the layer tables of a preset's networks with parameters and FLOPs, "
                                                 "or what a checkpoint holds");
    info_cmd->add_option("checkpoint", info_checkpoint, "A checkpoint (.safetensors) to describe instead of a preset")
        ->check(CLI::ExistingFile);
    info_cmd->add_option("--preset", info_preset, "tiny, cpu64, lite128 or paper256");
    info_cmd->add_option("--channels", info_channels, "Image channels: 1 (grey) or 3 (RGB)")->check(CLI::IsMember({1, 3}));
    info_cmd->add_option("--stage", info_stage, "background (stage 1: generator and discriminators) or defect (stage 2)")
        ->check(CLI::IsMember({"background", "defect"}));
    info_cmd->add_option("--start-layer", info_start_layer, "--stage defect: the branch's first layer (default: METHOD.md's)");
    info_cmd->add_option("--classes", info_classes, "--stage defect: defect types of the one model")->check(CLI::Range(1, 1000000));

    imbdef_cli::train_defect_options td;
    auto* td_cmd = app.add_subcommand("train-defect", "Stage 2: train the defect generator on a frozen stage-1 checkpoint "
                                                      "(defect images with masks; several classes in one model)");
    td_cmd->add_option("--background", td.background, "The stage-1 checkpoint (frozen)")->required()->check(CLI::ExistingFile);
    td_cmd->add_option("--data", td.data, "Defect images with masks: MVTec AD, Magnetic Tile, image + mask folders, or the MPDD "
                                          "layout (default: the synthetic dataset beside the stage-1 run)");
    td_cmd->add_option("--out", td.out, "Run folder: checkpoint, samples, log")->required();
    td_cmd->add_option("--kimg", td.kimg, "Length of the run in thousands of images")->check(CLI::PositiveNumber);
    td_cmd->add_option("--snapshot-kimg", td.snapshot_kimg, "Checkpoint and sample grid every this many kimg")->check(CLI::PositiveNumber);
    td_cmd->add_option("--metrics-kimg", td.metrics_kimg, "Defect metrics (boundary transition, crop SWD, diversity, out-of-region, "
                                                          "alignment) against the training defects every this many kimg")
        ->check(CLI::PositiveNumber);
    td_cmd->add_option("--metrics-images", td.metrics_images, "Samples of the EMA generator per metrics measurement (every class in turn)")
        ->check(CLI::Range(2, 100000));
    td_cmd->add_option("--classes", td.classes, "Train on these classes of the dataset only (names, comma-separated; default: all)");
    td_cmd->add_option("--max-minutes", td.max_minutes, "Stop (with a checkpoint) after this many minutes; --resume continues")
        ->check(CLI::NonNegativeNumber);
    td_cmd->add_option("--resume", td.resume, "Continue from this stage-2 checkpoint, bit for bit")->check(CLI::ExistingFile);
    td_cmd->add_option("--protocol", td.protocol, "all, or one-third: per class the first third (by name) trains, the rest is held out")
        ->check(CLI::IsMember({"all", "one-third"}));
    td_cmd->add_option("--batch", td.batch, "Images per step (even: the mode-seeking term pairs the halves)")->check(CLI::Range(2, 4096));
    td_cmd->add_option("--seed", td.seed, "Seed of initialisation, latents, augmentation and data order");
    td_cmd->add_option("--start-layer", td.start_layer, "The defect branch's first synthesis layer (default: METHOD.md's)");
    td_cmd->add_flag("--patch", td.patch, "Train on native-scale patches of the defect images (the preset's resolution a side) "
                                          "instead of whole images shrunk to it; the stage-1 checkpoint must be a patch model");
    td_cmd->add_option("--scale", td.scale, "With --patch: resample the images by this first (default: the stage-1 checkpoint's)")
        ->check(CLI::Range(0.01, 16.0));
    td_cmd->add_option("--initial-mask-area", td.initial_mask_area,
                       "Share of the image the generator's masks cover at the start (default: the median area of the training "
                       "defects; 0: METHOD.md's zero to-mask bias)")
        ->check(CLI::Range(0.0, 0.999));
    td_cmd->add_option("--composite-radius", td.composite_radius,
                       "Beyond this many pixels from the defect mask the image is the background's, bit for bit "
                       "(default 2; 0: the hard mask; -1: off, METHOD.md's plain output)")
        ->check(CLI::Range(-1, 64));
    td_cmd->add_flag("--no-augment", td.no_augment, "Train without ADA");
    td_cmd->add_flag("--skip-bad-files", td.skip_bad_files, "Report unusable defect files and go on");

    imbdef_cli::benchmark_options bench;
    auto* bench_cmd = app.add_subcommand("benchmark", "Images per second and GFLOP/s of generation and training steps");
    bench_cmd->add_option("--preset", bench.preset, "tiny, cpu64, lite128 or paper256");
    bench_cmd->add_option("--batch", bench.batch, "Batch size (a multiple of 4 for the minibatch-std groups)")
        ->check(CLI::Range(1, 4096));
    bench_cmd->add_option("--what", bench.what,
                          "generate (StyleGAN3's network), d-step, g-step, train-step (the whole stage-1 iteration), "
                          "generate-background (imbdef's stage-1 generator: mask channel, PGDI) or generate-defect "
                          "(background, defect image and masks in one pass), defect-train-step (the whole stage-2 iteration, "
                          "timed after the stage-1 train-step)")
        ->check(CLI::IsMember({"generate", "d-step", "g-step", "train-step", "generate-background", "generate-defect",
                               "defect-train-step"}));
    bench_cmd->add_option("--channels", bench.channels, "Image channels: 1 or 3")->check(CLI::IsMember({1, 3}));
    bench_cmd->add_option("--start-layer", bench.start_layer,
                          "generate-defect, defect-train-step: the defect branch's first synthesis layer (default: METHOD.md's)");
    bench_cmd->add_option("--ada-p", bench.ada_p, "train-step, defect-train-step: ADA's augmentation probability")->check(CLI::Range(0.0, 1.0));
    bench_cmd->add_option("--peak-gflops", bench.peak_gflops,
                          "train-step, defect-train-step: this machine's FP32 peak, to print the fraction of it: cores x GHz x "
                          "FP32 FLOP per cycle and core (lscpu; 32 with two 256-bit FMA pipes, as Zen 4 and most AVX2 cores; 64 with two "
                          "512-bit ones)")
        ->check(CLI::PositiveNumber);
    bench_cmd->add_option("--iterations", bench.iterations, "Timed iterations (default: 10 generate, 4 steps)")
        ->check(CLI::NonNegativeNumber);

    imbdef_cli::train_background_options tb;
    auto* tb_cmd = app.add_subcommand("train-background", "Stage 1: train the background generator and its valid-region "
                                                           "mask on defect-free images (default: the built-in synthetic data)");
    tb_cmd->add_option("--data", tb.data, "Folder of defect-free images, or a dataset (MVTec AD, images+masks, Magnetic "
                                          "Tile: its defect-free samples); default: the synthetic dataset")
        ->check(CLI::ExistingDirectory);
    tb_cmd->add_option("--out", tb.out, "Run folder: checkpoint, samples, log, report")->required();
    tb_cmd->add_option("--preset", tb.preset, "tiny, cpu64, lite128 or paper256")
        ->check(CLI::IsMember({"tiny", "cpu64", "lite128", "paper256"}));
    tb_cmd->add_option("--kimg", tb.kimg, "Length of the run in thousands of images")->check(CLI::PositiveNumber);
    tb_cmd->add_option("--resume", tb.resume, "Continue from this checkpoint, bit for bit")->check(CLI::ExistingFile);
    tb_cmd->add_option("--batch", tb.batch, "Images per step (a multiple of 4 for the minibatch-std groups)")
        ->check(CLI::Range(1, 4096));
    tb_cmd->add_option("--seed", tb.seed, "Seed of initialisation, latents, augmentation and data order");
    tb_cmd->add_option("--channels", tb.channels, "1 (grey) or 3 (RGB); default: as the data")->check(CLI::IsMember({0, 1, 3}));
    tb_cmd->add_option("--valid-region", tb.valid_region, "auto (Otsu foreground, full frame for textures), full-frame, "
                                                          "or files (DATA/valid_region/<path>.png); default: files when "
                                                          "DATA/valid_region exists, else auto")
        ->check(CLI::IsMember({"auto", "full-frame", "files"}));
    tb_cmd->add_option("--snapshot-kimg", tb.snapshot_kimg, "Checkpoint and sample grid every this many kimg")
        ->check(CLI::PositiveNumber);
    tb_cmd->add_option("--metrics-kimg", tb.metrics_kimg, "SWD against the training images every this many kimg")
        ->check(CLI::PositiveNumber);
    tb_cmd->add_option("--max-minutes", tb.max_minutes, "Stop (with a checkpoint) after this much wall time")
        ->check(CLI::NonNegativeNumber);
    tb_cmd->add_option("--stop-at-kimg", tb.stop_at_kimg, "Stop here (with a checkpoint) and resume later with --resume; "
                                                          "the run's schedule stays that of --kimg")
        ->check(CLI::NonNegativeNumber);
    tb_cmd->add_flag("--patch", tb.patch, "Train on native-scale patches (the preset's resolution a side, mostly inside the valid "
                                          "region) instead of whole images shrunk to it: one patch pixel is one pixel a detector sees");
    tb_cmd->add_option("--scale", tb.scale, "With --patch: resample the images by this first (default 1)")->check(CLI::Range(0.01, 16.0));
    tb_cmd->add_option("--gamma", tb.gamma, "R1 weight (default: 0.5 (R/128)^2)")->check(CLI::NonNegativeNumber);
    tb_cmd->add_option("--swd-images", tb.swd_images, "Images per set for the SWD metric")->check(CLI::Range(8, 100000));
    tb_cmd->add_flag("--x-flip", tb.x_flip, "Mirror training images (and masks) at random");
    tb_cmd->add_flag("--no-augment", tb.no_augment, "Turn adaptive discriminator augmentation off");
    tb_cmd->add_flag("--skip-bad-files", tb.skip_bad_files, "Report unreadable images and go on without them");

    imbdef_cli::generate_options gen;
    auto* gen_cmd = app.add_subcommand("generate", "From a stage-2 checkpoint: a labelled defect dataset (YOLO, COCO, data.yaml); "
                                                   "from a stage-1 checkpoint: background images and valid-region masks, as PNG "
                                                   "with a manifest");
    gen_cmd->add_option("--checkpoint", gen.checkpoint, "A stage-1 (background) or stage-2 (defect) checkpoint")->required()->check(CLI::ExistingFile);
    gen_cmd->add_option("--out", gen.out, "Output folder")->required();
    gen_cmd->add_option("--count", gen.count, "Number of samples")->check(CLI::Range(1LL, 100000000LL));
    gen_cmd->add_option("--seed", gen.seed, "Seed: sample i of seed S is always the same image");
    gen_cmd->add_option("--truncation", gen.truncation, "Truncation psi around the average latent (1: none)")
        ->check(CLI::Range(0.0, 2.0));
    gen_cmd->add_option("--weights", gen.group, "G_ema (averaged, default) or G")->check(CLI::IsMember({"G_ema", "G"}));
    gen_cmd->add_option("--batch", gen.batch, "Images per forward pass")->check(CLI::Range(1, 4096));
    imbdef_cli::generate_defect_options gen_defects;
    gen_cmd->add_option("--class", gen_defects.classes, "Stage-2 checkpoints: 'all' (every class in turn) or class names, comma-separated");
    gen_cmd->add_option("--defects-per-image", gen_defects.defects_per_image, "Stage-2: defects painted on each image (1 to 64)")
        ->check(CLI::Range(1, 64));
    gen_cmd->add_option("--size", gen_defects.size, "Stage-2: resize every sample to WxH (images area/bicubic, masks nearest)");
    gen_cmd->add_option("--yolo", gen_defects.yolo, "Stage-2: YOLO labels for 'detect' (boxes) or 'segment' (polygons)")
        ->check(CLI::IsMember({"detect", "segment"}));
    gen_cmd->add_option("--coco", gen_defects.coco, "Stage-2: COCO segmentation as 'rle' (exact) or 'polygon'")
        ->check(CLI::IsMember({"rle", "polygon"}));
    gen_cmd->add_option("--min-area", gen_defects.min_area, "Stage-2: defect components of fewer pixels get no label")
        ->check(CLI::Range(1LL, 1LL << 40));
    imbdef_cli::generate_composed_options gen_composed;
    gen_cmd->add_option("--backgrounds", gen_composed.backgrounds,
                        "Stage-2 patch models: compose the defects into these full-size defect-free images (a folder) instead of "
                        "generated backgrounds");
    gen_cmd->add_option("--region", gen_composed.region,
                        "With --backgrounds: where defects may go, a mask file for every image or a folder of masks by file name");
    gen_cmd->add_option("--valid-region", gen_composed.valid_region,
                        "With --backgrounds: the images' valid region, auto (Otsu foreground, full frame for textures) or full-frame")
        ->check(CLI::IsMember({"auto", "full-frame"}));
    gen_cmd->add_option("--seam-threshold", gen_composed.seam_threshold,
                        "With --backgrounds: refuse a defect whose footprint border steps sharper by more than this (image units, "
                        "[-1, 1] images; default 0.1)")
        ->check(CLI::NonNegativeNumber);
    gen_cmd->add_flag("--no-reject", gen_defects.no_reject, "Stage-2: keep every sample, even those whose measurements fail");
    gen_cmd->add_flag("--overwrite", gen_defects.overwrite, "Stage-2: write into a non-empty dataset folder, replacing its files");

    imbdef_cli::copy_paste_command_options cp;
    auto* cp_cmd = app.add_subcommand("copy-paste", "The copy-paste baseline: real training defects pasted inside the valid region "
                                                    "of a stage-1 checkpoint's backgrounds (the same backgrounds `generate --seed` "
                                                    "gives), written as the same labelled dataset");
    cp_cmd->add_option("--background", cp.background, "The stage-1 checkpoint whose backgrounds receive the defects")
        ->required()->check(CLI::ExistingFile);
    cp_cmd->add_option("--data", cp.data, "The real defects with masks (any layout train-defect reads)")->required();
    cp_cmd->add_option("--out", cp.out, "Output folder")->required();
    cp_cmd->add_option("--count", cp.count, "Number of samples")->check(CLI::Range(1LL, 100000000LL));
    cp_cmd->add_option("--seed", cp.seed, "Seed: backgrounds, the defect drawn and its place");
    cp_cmd->add_option("--protocol", cp.protocol, "all, or one-third: paste only the training third of each class")
        ->check(CLI::IsMember({"all", "one-third"}));
    cp_cmd->add_option("--class", cp.classes, "'all' or class names, comma-separated");
    cp_cmd->add_option("--min-area", cp.min_area, "Defect components of fewer pixels get no label (as generate's)")
        ->check(CLI::Range(1LL, 1LL << 40));
    cp_cmd->add_flag("--overwrite", cp.overwrite, "Write into a non-empty dataset folder, replacing its files");
    cp_cmd->add_flag("--skip-bad-files", cp.skip_bad_files, "Report unusable defects (as train-defect does) and go on without them");

    imbdef_cli::export_reals_options er;
    auto* er_cmd = app.add_subcommand("export-reals", "The real defects with masks as a labelled dataset (YOLO, COCO, data.yaml), framed as "
                                                      "train-defect reads them: the training part as split train, the held-out part as "
                                                      "split test");
    er_cmd->add_option("--data", er.data, "The real defects with masks (any layout train-defect reads)")->required();
    er_cmd->add_option("--out", er.out, "Output folder")->required();
    er_cmd->add_option("--background", er.background, "A stage-1 checkpoint: take its resolution and channels")
        ->check(CLI::ExistingFile);
    er_cmd->add_option("--resolution", er.resolution, "Square size when there is no --background")->check(CLI::Range(8, 4096));
    er_cmd->add_option("--channels", er.channels, "1 or 3 when there is no --background (default: as the data)")
        ->check(CLI::IsMember({0, 1, 3}));
    er_cmd->add_option("--protocol", er.protocol, "one-third (default: per class the first third trains, the rest is the test "
                                                  "split) or all")
        ->check(CLI::IsMember({"all", "one-third"}));
    er_cmd->add_option("--class", er.classes, "'all' or class names, comma-separated");
    er_cmd->add_option("--min-area", er.min_area, "Components of fewer pixels get no label (as generate's)")
        ->check(CLI::Range(1LL, 1LL << 40));
    er_cmd->add_flag("--overwrite", er.overwrite, "Write into a non-empty dataset folder, replacing its files");
    er_cmd->add_flag("--skip-bad-files", er.skip_bad_files, "Report unusable defects (as train-defect does) and go on without them");

    imbdef_cli::evaluate_options ev;
    auto* ev_cmd = app.add_subcommand("evaluate", "The stage-2 metrics (boundary transition, crop SWD, diversity, out-of-region, "
                                                  "mask alignment; overall and per class) of a labelled defect dataset against real "
                                                  "defects");
    ev_cmd->add_option("--dataset", ev.dataset, "A dataset from imbdef generate (stage 2) or imbdef copy-paste");
    ev_cmd->add_flag("--held-out-reals", ev.held_out_reals, "Measure the held-out real defects instead: the floor of these metrics");
    ev_cmd->add_option("--data", ev.data, "The real defects with masks")->required();
    ev_cmd->add_option("--protocol", ev.protocol, "all, or one-third: the first third of each class trains, the rest is held out")
        ->check(CLI::IsMember({"all", "one-third"}));
    ev_cmd->add_option("--against", ev.against, "The reference reals: train (default), held-out or all")
        ->check(CLI::IsMember({"train", "held-out", "all"}));
    ev_cmd->add_option("--out", ev.out, "JSON file to write (default: DATASET/metrics.json)");
    ev_cmd->add_flag("--skip-bad-files", ev.skip_bad_files, "Report unusable defects (as train-defect does) and go on without them");

    std::string slim_in, slim_out;
    auto* slim_cmd = app.add_subcommand("slim", "Write an inference checkpoint: only what generating and starting a defect stage "
                                                "read (stage 1: G_ema and D_img; stage 2: G_ema), a fraction of the size; no run "
                                                "resumes from it");
    slim_cmd->add_option("--checkpoint", slim_in, "A stage-1 or stage-2 training checkpoint")->required()->check(CLI::ExistingFile);
    slim_cmd->add_option("--out", slim_out, "The inference checkpoint to write")->required();

    CLI11_PARSE(app, argc, argv);
    try {
        if (threads > 0) core::set_num_threads(threads);
        if (*version) print_version();
        if (*rng_cmd) print_draws(rng);
        if (*synth_cmd) write_synthetic(synth);
        if (*info_cmd) {
            if (!info_checkpoint.empty())
                imbdef_cli::print_checkpoint_info(info_checkpoint);
            else if (info_stage == "defect")
                imbdef_cli::print_defect_info(info_preset, info_channels, info_classes, info_start_layer);
            else
                imbdef_cli::print_info(info_preset, info_channels);
        }
        if (*tb_cmd) return imbdef_cli::run_train_background(tb);
        if (*td_cmd) return imbdef_cli::run_train_defect(td);
        if (*gen_cmd) {
            // What the checkpoint holds decides what is generated: backgrounds, or a defect dataset.
            const auto kind = imbdef::train::checkpoint_reader(gen.checkpoint).json_metadata().value("kind", std::string());
            if (kind == imbdef::train::defect_sampler::checkpoint_kind && !gen_composed.backgrounds.empty()) {
                gen_composed.classes = gen_defects.classes;
                gen_composed.defects_per_image = gen_defects.defects_per_image;
                gen_composed.min_area = gen_defects.min_area;
                gen_composed.no_reject = gen_defects.no_reject;
                gen_composed.overwrite = gen_defects.overwrite;
                imbdef_cli::run_generate_composed(gen.checkpoint, gen.out, gen.group, gen.count, gen.seed, gen.truncation, gen_composed);
            } else if (kind == imbdef::train::defect_sampler::checkpoint_kind) {
                imbdef_cli::run_generate_defects(gen.checkpoint, gen.out, gen.group, gen.count, gen.seed, gen.truncation, gen_defects);
            } else {
                if (!gen_composed.backgrounds.empty())
                    throw imbdef::error("imbdef generate --backgrounds", "a stage-2 (defect) patch checkpoint whose defects to compose",
                                        "a " + (kind.empty() ? std::string("checkpoint of unknown kind") : "'" + kind + "' checkpoint") + ": " + gen.checkpoint);
                imbdef_cli::run_generate(gen);
            }
        }
        if (*bench_cmd) imbdef_cli::run_benchmark(bench);
        if (*cp_cmd) return imbdef_cli::run_copy_paste(cp);
        if (*er_cmd) return imbdef_cli::run_export_reals(er);
        if (*ev_cmd) return imbdef_cli::run_evaluate(ev);
        if (*slim_cmd) {
            const auto groups = imbdef::train::write_inference_checkpoint(slim_in, slim_out);
            std::string kept;
            for (const auto& g : groups) kept += (kept.empty() ? "" : ", ") + g;
            std::printf("%s: %s of %s (%.1f MB of %.1f MB)\n", slim_out.c_str(), kept.c_str(), slim_in.c_str(),
                        static_cast<double>(std::filesystem::file_size(slim_out)) / 1e6,
                        static_cast<double>(std::filesystem::file_size(slim_in)) / 1e6);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "imbdef: %s\n", e.what());
        return 1;
    }
    return 0;
}
