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
//             and PGDI, D_img and D_match, ADA, lazy R1 every 16 steps, EMA), averaged over whole
//             multiples of 16 steps so the R1 share is included; also prints peak memory
// FLOPs count the forward MACs of reference/stylegan3.md section 8 (times 2) and one forward
// pass's worth for each gradient a backward computes (data, weights). They are the reference's
// operation counts, zero-insertion upsampling included, which imbdef's polyphase filters skip:
// "reference-equivalent" GFLOP/s, which can exceed the machine's peak.

#include <chrono>
#include <cstdio>
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

#include <sys/resource.h>

namespace imbdef_cli {

struct benchmark_options {
    std::string preset = "cpu64";
    std::string what = "generate";
    int batch = 8;
    int channels = 3;
    int iterations = 0;  // 0: by mode
    double ada_p = 0.2;  // train-step: ADA's probability (on and doing work, as past a run's start)
    int start_layer = -1;  // generate-defect: the branch's first layer; -1: METHOD.md's default
};

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

inline void run_train_step_benchmark(const benchmark_options& o) {
    namespace core = imbdef::core;
    imbdef::train::background_training_options t;
    t.preset = o.preset;
    t.image_channels = o.channels;
    t.batch = o.batch;
    t.ada_initial_p = o.ada_p;
    imbdef::train::background_trainer trainer(t);
    random_real_source reals;
    trainer.step(reals);  // warm-up (an R1 step): sizes every context and scratch arena
    const int iters = o.iterations > 0 ? o.iterations : 16;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) trainer.step(reals);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double images = static_cast<double>(iters) * static_cast<double>(o.batch);
    std::printf("{\"preset\": \"%s\", \"what\": \"train-step\", \"batch\": %d, \"threads\": %d, \"iterations\": %d, "
                "\"ada_p\": %.3g, \"images_per_second\": %.3f, \"peak_rss_mib\": %.1f}\n",
                o.preset.c_str(), o.batch, core::num_threads(), iters, o.ada_p, images / seconds, peak_rss_mib());
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
                            "generate, d-step, g-step, train-step, generate-background or generate-defect", "'" + o.what + "'");

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
