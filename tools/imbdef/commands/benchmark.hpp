#pragma once
// imbdef benchmark --preset P --batch B --what generate|d-step|g-step: images per second and
// achieved GFLOP/s of the networks on this machine, with the library's own thread pool.
//   generate  mapping + synthesis forward, no gradients
//   d-step    StyleGAN's Dmain: G forward (no gradients), D forward and backward on the fakes and
//             on the reals, parameter gradients, one Adam step of D
//   g-step    Gmain: G forward, D forward, D input gradient only, G backward, one Adam step of G
//   generate-background  imbdef's stage-1 generator (valid-region mask channel, PGDI), forward only
//   generate-defect      the defect generator's one pass: background, valid region, defect image,
//             mask logit and binary mask (one defect pass per image), forward only
//   train-step  the whole stage-1 iteration of train::background_trainer (G with its mask channel
//             and PGDI, D_img and D_match, ADA, lazy R1 every 16 steps, EMA), by default over 16
//             steps after a warm-up so one R1 step is included; also prints peak memory
//   defect-train-step  the whole stage-2 iteration of train::defect_trainer (one defect pass per
//             image, one class) on a stage-1 network initialised in memory (written to a temporary
//             checkpoint, which the trainer reads), timed right after the stage-1 train-step on the
//             same settings; prints both and the ratios: FLOPs per image and time per image
// The generation and d-step/g-step FLOPs count the forward MACs of reference/stylegan3.md section
// 8 (times 2) and one forward pass's worth for each gradient a backward computes (data, weights).
// The training steps count pass by pass with models::train_step_cost (models/cost.hpp: which
// passes each phase runs, R1's double backward, the R1 steps actually timed). The 3x3 convs, the
// bulk, are counted as computed; the filters are the reference's polyphase estimate, so the
// figures are "reference-equivalent" GFLOP/s. With --peak-gflops (the machine's FP32 peak: cores x
// GHz x FP32 FLOP per cycle and core, e.g. 2 x 2.6 x 32 for two Zen 4 cores with their two 256-bit
// FMA pipes) the training steps also print the fraction of it.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <span>
#include <string>

#include <imbdef/core/random.hpp>
#include <imbdef/models/background_generator.hpp>
#include <imbdef/models/cost.hpp>
#include <imbdef/models/defect_generator.hpp>
#include <imbdef/models/image_discriminator.hpp>
#include <imbdef/models/presets.hpp>
#include <imbdef/policies/adversarial_loss.hpp>
#include <imbdef/train/adam.hpp>
#include <imbdef/train/background_trainer.hpp>
#include <imbdef/train/defect_trainer.hpp>

#include <sys/resource.h>
#include <unistd.h>

namespace imbdef_cli {

struct benchmark_options {
    std::string preset = "cpu64";
    std::string what = "generate";
    int batch = 8;
    int channels = 3;
    int iterations = 0;  // 0: by mode
    double ada_p = 0.2;  // train-step: ADA's probability (on and doing work, as past a run's start)
    int start_layer = -1;  // generate-defect, defect-train-step: the branch's first layer; -1: METHOD.md's default
    double peak_gflops = 0;  // the machine's FP32 peak (cores x GHz x FLOP/cycle); > 0: report the fraction of it
};

// CPU time of this process so far (user + system, every thread), in seconds.
inline double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

// Peak resident memory of this process so far, in MiB.
inline double peak_rss_mib() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_maxrss) / 1024.0;
}

// Random real batches from memory: the benchmark measures the networks, not file decoding.
struct random_real_source {
    std::uint64_t served = 0;
    void next(imbdef::core::view<float> images, imbdef::core::view<float> masks) {
        imbdef::core::fill_uniform(images, imbdef::core::philox_stream{.seed = 11, .stream = served}, 0, -1.0f, 1.0f);
        for (imbdef::core::index_t i = 0; i < masks.numel(); ++i) masks[i] = (i / 7) % 3 ? 1.0f : -1.0f;
        ++served;
    }
};

// The lazy-regularisation steps among steps [first, first + count) (policies::lazy::runs).
inline std::int64_t lazy_steps_in(std::int64_t first, std::int64_t count, std::int64_t interval) {
    std::int64_t runs = 0;
    for (std::int64_t s = first; s < first + count; ++s) runs += s % interval == 0;
    return runs;
}

// What a timed run of training steps measured, with its FLOPs from models::train_step_cost.
// On a shared machine wall-clock rates fall with the load; FLOPs per CPU-second of the process
// (all its threads) do not, so "gflop_per_cpu_second" divided by the peak of one core is the
// fraction of peak the code reaches while it runs.
struct train_step_timing {
    int iterations = 0;
    std::int64_t r1_steps = 0;
    double seconds = 0, cpu_seconds = 0, images = 0, flops = 0;
    double images_per_second() const { return images / seconds; }
    double gflops() const { return flops / seconds * 1e-9; }
    double gflop_per_cpu_second() const { return flops / cpu_seconds * 1e-9; }
    double flop_per_image() const { return flops / images; }
};

// Times `iters` steps of `trainer` after one warm-up step (an R1 step: it sizes every context and
// scratch arena); the FLOPs count the R1 passes of the steps actually timed.
template <class Trainer, class Source>
train_step_timing time_train_steps(Trainer& trainer, Source& reals, const imbdef::models::train_step_cost& cost, int iters,
                                   int batch, int r1_interval) {
    trainer.step(reals);
    train_step_timing t;
    t.iterations = iters;
    t.r1_steps = lazy_steps_in(trainer.steps_done(), iters, r1_interval);
    const double cpu_start = cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) trainer.step(reals);
    t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    t.cpu_seconds = cpu_seconds() - cpu_start;
    t.images = static_cast<double>(iters) * batch;
    t.flops = 2 * batch * cost.macs_per_image(iters, t.r1_steps);
    return t;
}

// `"gflop_per_image", "gflops", "gflop_per_cpu_second", "fraction_of_peak"` (the last only with
// --peak-gflops; of the wall-clock rate).
inline std::string flops_fields(const char* prefix, const train_step_timing& t, double peak_gflops) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "\"%sgflop_per_image\": %.3f, \"%sgflops\": %.2f, \"%sgflop_per_cpu_second\": %.2f", prefix,
                  t.flop_per_image() * 1e-9, prefix, t.gflops(), prefix, t.gflop_per_cpu_second());
    std::string out = buf;
    if (peak_gflops > 0) {
        std::snprintf(buf, sizeof buf, ", \"%sfraction_of_peak\": %.3f", prefix, t.gflops() / peak_gflops);
        out += buf;
    }
    return out;
}

inline imbdef::models::train_step_cost background_step_cost(const imbdef::models::preset& p, int channels, int r1_interval) {
    namespace models = imbdef::models;
    return models::background_train_step_cost(
        models::generator_costs(models::make_synthesis_schedule(p.synthesis(channels)), p.latent_dim, p.latent_dim),
        models::discriminator_costs(models::make_discriminator_schedule(p.image_discriminator(channels)), channels),
        models::discriminator_costs(models::make_discriminator_schedule(p.matching_discriminator(channels)), channels + 1), r1_interval);
}

inline imbdef::train::background_training_options background_step_options(const benchmark_options& o) {
    imbdef::train::background_training_options t;
    t.preset = o.preset;
    t.image_channels = o.channels;
    t.batch = o.batch;
    t.ada_initial_p = o.ada_p;
    return t;
}

inline void run_train_step_benchmark(const benchmark_options& o) {
    namespace core = imbdef::core;
    const auto t = background_step_options(o);
    imbdef::train::background_trainer trainer(t);
    random_real_source reals;
    const auto timing = time_train_steps(trainer, reals, background_step_cost(trainer.preset(), o.channels, t.r1_interval),
                                         o.iterations > 0 ? o.iterations : t.r1_interval, o.batch, t.r1_interval);
    std::printf("{\"preset\": \"%s\", \"what\": \"train-step\", \"batch\": %d, \"threads\": %d, \"iterations\": %d, "
                "\"r1_steps\": %lld, \"ada_p\": %.3g, \"images_per_second\": %.3f, %s, \"peak_rss_mib\": %.1f}\n",
                o.preset.c_str(), o.batch, core::num_threads(), timing.iterations, static_cast<long long>(timing.r1_steps), o.ada_p,
                timing.images_per_second(), flops_fields("", timing, o.peak_gflops).c_str(), peak_rss_mib());
}

// Random real defect batches from memory, one class: random_real_source's images and masks.
struct random_defect_source {
    random_real_source images;
    void next(imbdef::core::view<float> x, imbdef::core::view<float> masks, std::span<int> classes) {
        images.next(x, masks);
        std::fill(classes.begin(), classes.end(), 0);
    }
};

// A stage-1 checkpoint in a fresh temporary folder, removed with this object.
struct temporary_folder {
    std::filesystem::path path;
    temporary_folder() {
        const auto base = std::filesystem::temp_directory_path();
        for (int i = 0;; ++i) {
            path = base / ("imbdef_benchmark_" + std::to_string(::getpid()) + "_" + std::to_string(i));
            if (std::filesystem::create_directory(path)) break;
        }
    }
    ~temporary_folder() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    temporary_folder(const temporary_folder&) = delete;
    temporary_folder& operator=(const temporary_folder&) = delete;
};

// The stage-2 iteration (train::defect_trainer: G main with D_img, D_match, ESL and RCL; D main
// with the shuffled-mask negatives; lazy R1 on both discriminators; EMA; ADA), on a stage-1
// network initialised in memory, against the stage-1 iteration timed just before it on the same
// machine: the same preset, batch, channels, ADA p and number of steps.
inline void run_defect_train_step_benchmark(const benchmark_options& o) {
    namespace core = imbdef::core;
    namespace models = imbdef::models;
    const auto t1 = background_step_options(o);
    const int iters = o.iterations > 0 ? o.iterations : t1.r1_interval;
    temporary_folder tmp;
    const auto stage1_checkpoint = tmp.path / "stage1.safetensors";
    train_step_timing stage1;
    {
        imbdef::train::background_trainer trainer(t1);
        random_real_source reals;
        stage1 = time_train_steps(trainer, reals, background_step_cost(trainer.preset(), o.channels, t1.r1_interval), iters, o.batch,
                                  t1.r1_interval);
        trainer.save(stage1_checkpoint);
    }
    imbdef::train::defect_training_options t2;
    t2.background_checkpoint = stage1_checkpoint;
    t2.batch = o.batch;
    t2.start_layer = o.start_layer;
    t2.ada_initial_p = o.ada_p;
    imbdef::train::defect_trainer trainer(t2);
    const auto& p = trainer.preset();
    const auto& g = trainer.generator();
    const auto s = g.background().schedule();
    const auto cost = models::defect_train_step_cost(
        models::generator_costs(s, p.latent_dim, p.latent_dim),
        models::defect_path_costs(s, g.start_layer(), p.latent_dim, p.latent_dim, trainer.num_classes()),
        models::discriminator_costs(models::make_discriminator_schedule(p.image_discriminator(o.channels)), o.channels),
        models::discriminator_costs(models::make_discriminator_schedule(p.matching_discriminator(o.channels)), o.channels + 1, 1,
                                    static_cast<int>(imbdef::train::defect_trainer::matching_discriminator_type::extra_channels),
                                    trainer.num_classes()),
        t2.r1_interval);
    random_defect_source reals;
    const auto stage2 = time_train_steps(trainer, reals, cost, iters, o.batch, t2.r1_interval);
    std::printf("{\"preset\": \"%s\", \"what\": \"defect-train-step\", \"batch\": %d, \"threads\": %d, \"iterations\": %d, "
                "\"r1_steps\": %lld, \"ada_p\": %.3g, \"start_layer\": %d, \"images_per_second\": %.3f, %s, "
                "\"stage1_images_per_second\": %.3f, %s, \"flop_ratio_to_stage1\": %.3f, \"time_ratio_to_stage1\": %.3f, "
                "\"peak_rss_mib\": %.1f}\n",
                o.preset.c_str(), o.batch, core::num_threads(), iters, static_cast<long long>(stage2.r1_steps), o.ada_p, g.start_layer(),
                stage2.images_per_second(), flops_fields("", stage2, o.peak_gflops).c_str(), stage1.images_per_second(),
                flops_fields("stage1_", stage1, o.peak_gflops).c_str(), stage2.flop_per_image() / stage1.flop_per_image(),
                stage1.images_per_second() / stage2.images_per_second(), peak_rss_mib());
}

// Stage-1 generation against stage-2 generation on the same backbone, same weights and latents:
// the FLOP figures are the layer tables of `imbdef info --stage defect`.
inline void run_generation_benchmark(const benchmark_options& o) {
    namespace core = imbdef::core;
    namespace models = imbdef::models;
    namespace nn = imbdef::nn;
    const auto& p = models::preset_by_name(o.preset);
    auto config = models::defect_generator_config_for(p, o.channels);
    config.start_layer = o.start_layer;
    models::defect_generator gd(config);
    nn::parameter_layout layout;
    gd.declare(nn::registry(layout));
    nn::parameter_store<float> params(layout);
    params.initialize(1);
    gd.initialize_from_background(params.views());
    const core::index_t n = o.batch, r = p.resolution;
    core::tensor<float> z({n, p.latent_dim}), zd({n, p.latent_dim}), image(gd.image_shape(n)), logit(gd.mask_shape(n)),
        mask(gd.mask_shape(n)), background(gd.image_shape(n)), valid(gd.mask_shape(n)),
        bg_out({n, o.channels + 1, r, r});
    models::defect_generator::context<float> ctx;
    models::defect_generator::background_type::context<float> bctx;
    const auto& bg = gd.background();
    const bool defect = o.what == "generate-defect";
    std::uint64_t offset = 0;
    auto step = [&] {
        offset = core::fill_normal(z.view(), core::philox_stream{.seed = 4}, offset);
        offset = core::fill_normal(zd.view(), core::philox_stream{.seed = 4}, offset);
        const auto v = std::as_const(params).views();
        if (defect)
            gd.forward(v, z.cview(), zd.cview(), {},
                       {.image = image.view(), .mask_logit = logit.view(), .mask = mask.view(), .background = background.view(),
                        .valid_region = valid.view()},
                       ctx);
        else
            bg.forward(v, z.cview(), bg_out.view(), bctx);
    };
    const auto s = bg.schedule();
    double macs = models::total_cost(models::generator_costs(s, p.latent_dim, p.latent_dim)).mac_total();
    if (defect) macs += models::total_cost(models::defect_path_costs(s, gd.start_layer(), p.latent_dim, p.latent_dim)).mac_total();
    step();  // warm-up: sizes every context
    const int iters = o.iterations > 0 ? o.iterations : 10;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) step();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double images = static_cast<double>(iters) * static_cast<double>(n);
    std::printf("{\"preset\": \"%s\", \"what\": \"%s\", \"batch\": %d, \"threads\": %d, \"start_layer\": %d, "
                "\"images_per_second\": %.3f, \"gflops\": %.2f, \"mflop_per_image\": %.1f}\n",
                o.preset.c_str(), o.what.c_str(), o.batch, core::num_threads(), defect ? gd.start_layer() : -1,
                images / seconds, images * 2 * macs / seconds * 1e-9, 2e-6 * macs);
}

inline void run_benchmark(const benchmark_options& o) {
    if (o.what == "train-step") return run_train_step_benchmark(o);
    if (o.what == "defect-train-step") return run_defect_train_step_benchmark(o);
    if (o.what == "generate-background" || o.what == "generate-defect") return run_generation_benchmark(o);
    namespace core = imbdef::core;
    namespace models = imbdef::models;
    namespace nn = imbdef::nn;
    using core::grad_mode;
    const auto& p = models::preset_by_name(o.preset);
    // The StyleGAN3 configuration: no mask channel, no detail injection, as the official network.
    models::basic_background_generator<imbdef::policies::no_injection> g(
        models::background_generator_config_for(p, o.channels, 0));
    auto d = models::make_image_discriminator(p.image_discriminator(o.channels));
    nn::parameter_layout gl, dl;
    g.declare(nn::registry(gl));
    d.declare(nn::registry(dl));
    nn::parameter_store<float> gp(gl), dp(dl), gg(gl), dg(dl);
    gp.initialize(1);
    dp.initialize(2);

    const core::index_t n = o.batch;
    const core::shape img_shape = g.output_shape({n, p.latent_dim});
    core::tensor<float> z({n, p.latent_dim}), fake(img_shape), reals(img_shape), logits({n, 1}), dlogits({n, 1}),
        dimg(img_shape), dz(z.shape());
    core::fill_uniform(reals.view(), core::philox_stream{.seed = 3}, 0, -1.0f, 1.0f);
    decltype(g)::context<float> gctx;
    models::image_discriminator::context<float> dctx;
    imbdef::train::adam<float> g_opt(gl.size(nn::tensor_role::parameter), imbdef::train::adam_options::stylegan(0.0025));
    imbdef::train::adam<float> d_opt(dl.size(nn::tensor_role::parameter), imbdef::train::adam_options::stylegan(0.002));
    const auto gcost = models::total_cost(models::generator_costs(g.schedule(), p.latent_dim, p.latent_dim));
    const auto dcost = models::total_cost(
        models::discriminator_costs(models::make_discriminator_schedule(p.image_discriminator(o.channels)), o.channels));
    double flops_per_image = 0;
    std::uint64_t offset = 0;

    auto step = [&] {
        offset = core::fill_normal(z.view(), core::philox_stream{.seed = 4}, offset);
        const auto gv = std::as_const(gp).views();
        const auto dv = std::as_const(dp).views();
        g.forward(gv, z.cview(), fake.view(), gctx);
        if (o.what == "d-step") {
            for (int side = 0; side < 2; ++side) {
                d.forward(dv, side ? reals.cview() : fake.cview(), logits.view(), dctx);
                imbdef::policies::mean_loss<imbdef::policies::logistic_loss, float>(
                    logits.cview(), side ? imbdef::policies::loss_side::real : imbdef::policies::loss_side::fake,
                    dlogits.view(), grad_mode::assign);
                d.backward(dv, dctx, dlogits.cview(), dimg.view(), dg.views(), grad_mode::none,
                           side ? grad_mode::accumulate : grad_mode::assign);
            }
            d_opt.step(dp.parameters().view(), dg.parameters().cview());
        } else if (o.what == "g-step") {
            d.forward(dv, fake.cview(), logits.view(), dctx);
            imbdef::policies::mean_loss<imbdef::policies::logistic_loss, float>(
                logits.cview(), imbdef::policies::loss_side::generator, dlogits.view(), grad_mode::assign);
            d.backward(dv, dctx, dlogits.cview(), dimg.view(), nn::grads_out<float>::unbound(dl), grad_mode::assign,
                       grad_mode::none);
            g.backward(gv, gctx, dimg.cview(), dz.view(), gg.views(), grad_mode::none, grad_mode::assign);
            g_opt.step(gp.parameters().view(), gg.parameters().cview());
        }
    };
    if (o.what == "generate")
        flops_per_image = 2 * gcost.mac_total();
    else if (o.what == "d-step")  // G forward; D forward + weight gradients, on fakes and on reals
        flops_per_image = 2 * (gcost.mac_total() + 2 * 2 * dcost.mac_total());
    else if (o.what == "g-step")  // G forward, data and weight gradients; D forward + data gradient
        flops_per_image = 2 * (3 * gcost.mac_total() + 2 * dcost.mac_total());
    else
        throw imbdef::error("imbdef benchmark --what",
                            "generate, d-step, g-step, train-step, defect-train-step, generate-background or generate-defect",
                            "'" + o.what + "'");

    step();  // warm-up: sizes every context and scratch arena
    const int iters = o.iterations > 0 ? o.iterations : (o.what == "generate" ? 10 : 4);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) step();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double images = static_cast<double>(iters) * static_cast<double>(n);
    std::printf("{\"preset\": \"%s\", \"what\": \"%s\", \"batch\": %d, \"threads\": %d, \"images_per_second\": %.3f, "
                "\"gflops\": %.2f}\n",
                o.preset.c_str(), o.what.c_str(), o.batch, core::num_threads(), images / seconds,
                images * flops_per_image / seconds * 1e-9);
}

}  // namespace imbdef_cli
