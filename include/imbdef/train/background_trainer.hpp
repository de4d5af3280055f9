#pragma once
// The stage-1 trainer (METHOD.md, stage 1): the background generator G (image channels plus the
// valid-region mask logit b_raw), the image discriminator D_img on the image, and the matching
// discriminator D_match on the pair (image, soft mask), trained with StyleGAN3's phases
// (reference/stylegan3.md sections 5 and 6):
//
//   G main   L_G = mean softplus(-D_img(A(x_f))) + w_match mean softplus(-D_match(A(x_f, s_f)))
//   D main   L_D = mean softplus(D(A(fake))) + mean softplus(-D(A(real)))        for D_img, D_match
//   D reg    every r1_interval steps, lazy R1 with weight gamma * interval       for D_img, D_match
//
// with s = tanh(k b_raw) (k = 10) the soft mask the discriminators see, real masks as 2 b - 1 in
// {-1, 1}, and A the augmentation policy: one random transform per sample, the same geometric
// transform for image and mask, colour on the image only; D_img sees the image channels of the
// augmented pair. After the phases: G's EMA, the ADA tuner. The D-phase generator pass updates
// w_avg and the magnitude EMAs (models/background_generator.hpp).
//
// Determinism: every random draw comes from Philox streams keyed by (seed, step, purpose), and the
// real batches come from a source whose order is a function of the batches already served, so
// a run restored from a checkpoint continues bit for bit (on the CPU, whatever the thread count).
//
// R1 is taken with respect to the real pair before augmentation, through one fixed draw of it
// (policies/augmented_discriminator.hpp), as StyleGAN3 does; exact by forward-over-reverse.
//
// What is not particular to stage 1 lives in generic pieces the stage-2 trainer shares: the
// counters and streams (trainer_state.hpp), the order of the phases and lazy regularisation
// (gan_iteration.hpp), each trained network with its Adam (optimized_network.hpp), the
// augmentation with ADA's tuner (tuned_augmentation.hpp), the non-finite checks
// (finite_checks.hpp) and the checkpoint schema (training_checkpoint.hpp). This file holds stage
// 1's networks, losses and phases.
//
// The trainer is the library's training API; the loop around it (stopping, snapshots, metrics,
// reports) is the caller's (tools/imbdef/commands/train_background.hpp is one).

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../core/tensor.hpp"
#include "../models/background_generator.hpp"
#include "../models/image_discriminator.hpp"
#include "../models/presets.hpp"
#include "../policies/adversarial_loss.hpp"
#include "../policies/augmentation.hpp"
#include "../policies/augmented_discriminator.hpp"
#include "../policies/r1_penalty.hpp"
#include "../policies/regularization_schedule.hpp"
#include "adam.hpp"
#include "ema.hpp"
#include "finite_checks.hpp"
#include "gan_iteration.hpp"
#include "gan_state.hpp"
#include "optimized_network.hpp"
#include "trainer_state.hpp"
#include "training_checkpoint.hpp"
#include "tuned_augmentation.hpp"

namespace imbdef::train {

using core::index_t;

// A source of real training batches: images [N, C, R, R] in [-1, 1] and valid-region masks
// [N, 1, R, R] in {-1, 1}. Its order must be a function of the batches it has served (the trainer
// saves that count; a resumed run seeks the source to it).
template <class S>
concept real_batch_source = requires(S& s, core::view<float> images, core::view<float> masks) { s.next(images, masks); };

struct background_training_options {
    std::string preset = "cpu64";
    int image_channels = 3;     // 1 grey, 3 RGB: what the data gives
    index_t batch = 8;
    double total_kimg = 100;    // the run's length: progress p = images seen / total (PGDI's input)
    std::uint64_t seed = 0;
    double g_lr = 0.0025, d_lr = 0.002;
    double r1_gamma = -1;       // < 0: 0.5 (R / 128)^2 (METHOD.md: gamma grows with R^2)
    int r1_interval = 16;       // lazy R1: every k-th step, weight k
    double match_weight = 1.0;  // weight of D_match's term in L_G
    double mask_sharpness = 10; // k of the soft mask tanh(k b_raw)
    // > 0: the reals are native-scale patches of the images resampled by this factor
    // (data/background_patches.hpp), recorded in the checkpoint as config.patch_scale so that a
    // defect stage and generation can tell patch models from whole-image ones. 0: whole images.
    double patch_scale = 0;
    double ema_half_life_kimg = -1;  // < 0: batch * 10 / 32 (METHOD.md)
    double ema_rampup = 0.05;
    bool augment = true;        // ADA on the discriminators' inputs
    policies::ada_options ada{};  // transforms, strengths and the tuning of p
    double ada_initial_p = 0;     // StyleGAN starts at 0 and lets the tuner raise it

    double gamma(int resolution) const {
        return r1_gamma >= 0 ? r1_gamma : 0.5 * std::pow(static_cast<double>(resolution) / 128.0, 2.0);
    }
    void validate() const {
        const auto where = std::string("background_training_options");
        models::preset_by_name(preset);
        IMBDEF_REQUIRE(image_channels == 1 || image_channels == 3, where, "image_channels 1 or 3", std::to_string(image_channels));
        IMBDEF_REQUIRE(batch >= 1, where, "a batch of at least 1", std::to_string(batch));
        IMBDEF_REQUIRE(total_kimg > 0 && std::isfinite(total_kimg), where, "total_kimg > 0", std::to_string(total_kimg));
        IMBDEF_REQUIRE(r1_interval >= 1, where, "r1_interval >= 1", std::to_string(r1_interval));
        IMBDEF_REQUIRE(mask_sharpness > 0, where, "mask_sharpness > 0", std::to_string(mask_sharpness));
        IMBDEF_REQUIRE(match_weight >= 0, where, "match_weight >= 0", std::to_string(match_weight));
        IMBDEF_REQUIRE(patch_scale >= 0 && patch_scale <= 16, where, "patch_scale in [0, 16] (0: whole images)", std::to_string(patch_scale));
    }
};

// What one training step measured (means over the batch).
struct background_step_stats {
    std::int64_t step = 0;       // the step these numbers belong to (0-based)
    std::int64_t images_seen = 0;  // after the step
    double progress = 0;
    double loss_g = 0, loss_g_img = 0, loss_g_match = 0;
    double loss_d_img = 0, loss_d_match = 0;
    std::optional<double> r1_img, r1_match;  // on regularisation steps
    double real_sign = 0;        // mean sign(D_img(real)): ADA's overfitting heuristic
    double ada_p = 0;
};

template <policies::augmentation_policy Augmentation = policies::ada>
class basic_background_trainer {
public:
    using generator_type = models::background_generator;
    using discriminator_type = models::image_discriminator;
    using augmented_type = policies::augmented_discriminator<discriminator_type, Augmentation>;

    explicit basic_background_trainer(background_training_options o)
        : options_((o.validate(), std::move(o))),
          preset_(models::preset_by_name(options_.preset)),
          state_{.seed = options_.seed, .total_kimg = options_.total_kimg},
          phases_{policies::lazy(static_cast<std::uint64_t>(options_.r1_interval))},
          g_module_(models::background_generator_config_for(preset_, options_.image_channels)),
          d_img_module_(models::make_image_discriminator(preset_.image_discriminator(options_.image_channels))),
          d_match_module_(models::make_image_discriminator(preset_.matching_discriminator(options_.image_channels))),
          // Independent initialisations per network from the one seed.
          g_(g_module_, adam_options::stylegan(options_.g_lr), options_.seed * 4 + 1),
          d_img_(d_img_module_, phases_.discriminator_optimizer(adam_options::stylegan(options_.d_lr)), options_.seed * 4 + 2),
          d_match_(d_match_module_, phases_.discriminator_optimizer(adam_options::stylegan(options_.d_lr)), options_.seed * 4 + 3),
          g_ema_(g_.layout()),
          augment_(options_.augment, options_.ada, options_.ada_initial_p) {
        nn::copy_values<float>(std::as_const(g_).parameters().views(), g_ema_.views());
        const index_t n = options_.batch, c = options_.image_channels, r = preset_.resolution;
        for (auto* t : {&gen_out_, &gen_grad_}) nn::ensure_shape(*t, {n, c + 1, r, r});
        for (auto* t : {&fake_pair_, &aug_pair_, &aug_pair_grad_, &pair_grad_, &real_pair_, &aug_real_pair_}) nn::ensure_shape(*t, {n, c + 1, r, r});
        for (auto* t : {&aug_image_, &aug_image_grad_, &real_images_}) nn::ensure_shape(*t, {n, c, r, r});
        nn::ensure_shape(real_masks_, {n, 1, r, r});
        nn::ensure_shape(z_, {n, static_cast<index_t>(preset_.latent_dim)});
        nn::ensure_shape(dz_, z_.shape());
        for (auto* t : {&logits_, &dlogits_, &match_logits_}) nn::ensure_shape(*t, {n, 1});
    }

    // One iteration: G main, D main, D reg when due, EMA, ADA. Reads one real batch.
    template <real_batch_source Source>
    background_step_stats step(Source& reals) {
        const index_t n = options_.batch;
        background_step_stats s;
        s.step = state_.step;
        s.progress = progress();
        reals.next(real_images_.view(), real_masks_.view());
        require_finite_batch(real_images_, "the real images", state_.step);
        require_finite_batch(real_masks_, "the real valid-region masks", state_.step);
        make_real_pair();

        phases_.run(
            state_.step, [&] { g_main(s); }, [&] { d_main(s); }, [&] { d_reg(s); },
            [&] {
                const ema_options ema{options_.ema_half_life_kimg >= 0 ? options_.ema_half_life_kimg
                                                                       : static_cast<double>(n) * 10.0 / 32.0,
                                      options_.ema_rampup};
                update_ema(g_ema_, g_.parameters(), ema, state_.images_seen, n);
                augment_.end_step(n);
                state_.end_step(n);
            });
        s.images_seen = state_.images_seen;
        s.ada_p = augmentation_probability();
        return s;
    }

    // ---- state ----
    std::int64_t steps_done() const noexcept { return state_.step; }
    std::int64_t images_seen() const noexcept { return state_.images_seen; }
    double progress() const noexcept { return state_.progress(); }
    const background_training_options& options() const noexcept { return options_; }
    const models::preset& preset() const noexcept { return preset_; }
    const generator_type& generator() const noexcept { return g_module_; }
    const nn::parameter_layout& generator_layout() const noexcept { return g_.layout(); }
    const nn::parameter_store<float>& generator_parameters() const noexcept { return g_.parameters(); }
    const nn::parameter_store<float>& generator_ema() const noexcept { return g_ema_; }
    const nn::parameter_store<float>& image_discriminator_parameters() const noexcept { return d_img_.parameters(); }
    const nn::parameter_store<float>& matching_discriminator_parameters() const noexcept { return d_match_.parameters(); }
    const Augmentation& augmentation() const noexcept { return augment_.policy(); }
    // ADA's current p (0 without augmentation).
    double augmentation_probability() const noexcept { return augment_.probability(); }

    // ---- checkpoints ----
    // Everything a bit-exact resume needs (train/training_checkpoint.hpp): the four networks (G,
    // its EMA, D_img, D_match), the optimisers' moments and step counts, the counters and the
    // augmentation's state.
    void save(const std::filesystem::path& path, const nlohmann::json& extra = {}) const {
        save_gan_checkpoint(path, describe(), extra, g_, g_ema_, d_img_, d_match_, state_, augment_);
    }

    // Restores a checkpoint written by save() for the same configuration. The configuration in
    // the file must equal this trainer's (preset, channels, batch, seed, ...; total_kimg may
    // differ so that a run can be extended); the first difference is named and nothing changes.
    void load(const std::filesystem::path& path) {
        load_gan_checkpoint(path, describe(), "a background-stage checkpoint", {"total_kimg"}, g_, g_ema_, d_img_, d_match_, state_, augment_);
    }

    // The checkpoint's description of this configuration (also what `imbdef info CKPT` prints).
    nlohmann::json describe() const {
        nlohmann::json cfg = {{"preset", options_.preset},
                              {"resolution", preset_.resolution},
                              {"image_channels", options_.image_channels},
                              {"latent_dim", preset_.latent_dim},
                              {"batch", options_.batch},
                              {"total_kimg", options_.total_kimg},
                              {"seed", options_.seed},
                              {"g_lr", options_.g_lr},
                              {"d_lr", options_.d_lr},
                              {"r1_gamma", options_.gamma(preset_.resolution)},
                              {"r1_interval", options_.r1_interval},
                              {"match_weight", options_.match_weight},
                              {"mask_sharpness", options_.mask_sharpness},
                              {"augment", options_.augment},
                              {"augmentation_policy", std::string(Augmentation::name)},
                              {"detail_injection", "pgdi"}};
        if (options_.patch_scale > 0) cfg["patch_scale"] = options_.patch_scale;  // absent: whole images, as before patches
        return {{"kind", "imbdef.background"}, {"format", 1}, {"config", cfg}};
    }

private:
    // Philox streams of this stage's draws, one per (step, purpose) (train/trainer_state.hpp).
    // The values are part of every stream: never renumber them.
    enum class draw : std::uint64_t { g_latents = 1, d_latents, aug_g_fake, aug_d_fake, aug_d_real, aug_r1_real };

    // [real image, 2 b - 1]
    void make_real_pair() {
        const index_t n = options_.batch, c = options_.image_channels, plane = real_masks_.size(2) * real_masks_.size(3);
        for (index_t i = 0; i < n; ++i) {
            float* dst = real_pair_.data() + i * (c + 1) * plane;
            std::copy_n(real_images_.data() + i * c * plane, c * plane, dst);
            std::copy_n(real_masks_.data() + i * plane, plane, dst + c * plane);
        }
    }
    // G's output [image, b_raw] -> [image, tanh(k b_raw)]
    void make_fake_pair() {
        const index_t n = options_.batch, c = options_.image_channels, plane = gen_out_.size(2) * gen_out_.size(3);
        const float k = static_cast<float>(options_.mask_sharpness);
        std::copy_n(gen_out_.data(), gen_out_.numel(), fake_pair_.data());
        for (index_t i = 0; i < n; ++i) {
            float* m = fake_pair_.data() + (i * (c + 1) + c) * plane;
            for (index_t j = 0; j < plane; ++j) m[j] = std::tanh(k * m[j]);
        }
    }
    // The image channels of an augmented pair, for D_img.
    void split_image(const core::tensor<float>& pair) {
        const index_t n = options_.batch, c = options_.image_channels, plane = pair.size(2) * pair.size(3);
        for (index_t i = 0; i < n; ++i) std::copy_n(pair.data() + i * (c + 1) * plane, c * plane, aug_image_.data() + i * c * plane);
    }

    void augment_forward(const core::tensor<float>& in, core::tensor<float>& out, draw d) {
        augment_.forward(in, options_.image_channels, out, aug_ctx_, state_.stream(d));
    }

    // D_img and D_match on an augmented pair: returns (mean loss of D_img, of D_match); leaves
    // D_img's logits in logits_ (for the ADA signs). With want_input_grad, the gradient of
    // w_img L_img + w_match L_match with respect to the augmented pair lands in aug_pair_grad_.
    std::pair<double, double> run_discriminators(const core::tensor<float>& aug_pair, policies::loss_side side,
                                                 double w_match, bool want_input_grad, core::grad_mode param_mode) {
        using core::grad_mode;
        const auto dv_img = std::as_const(d_img_).parameters().views();
        const auto dv_match = std::as_const(d_match_).parameters().views();
        const grad_mode data_mode = want_input_grad ? grad_mode::assign : grad_mode::none;
        const index_t n = options_.batch, c = options_.image_channels, plane = aug_pair.size(2) * aug_pair.size(3);

        split_image(aug_pair);
        d_img_module_.forward(dv_img, aug_image_.cview(), logits_.view(), d_img_ctx_);
        const double l_img = policies::mean_loss<policies::logistic_loss, float>(logits_.cview(), side, dlogits_.view(), grad_mode::assign);
        if (side == policies::loss_side::real) {
            real_sign_ = 0;
            for (index_t i = 0; i < n; ++i) real_sign_ += logits_[i] > 0 ? 1.0 : (logits_[i] < 0 ? -1.0 : 0.0);
            augment_.observe_real_logits(logits_.cview());
        }
        d_img_module_.backward(dv_img, d_img_ctx_, dlogits_.cview(), aug_image_grad_.view(),
                               param_mode == grad_mode::none ? nn::grads_out<float>::unbound(d_img_.layout()) : d_img_.gradients().views(),
                               data_mode, param_mode);

        d_match_module_.forward(dv_match, aug_pair.cview(), match_logits_.view(), d_match_ctx_);
        const double l_match = policies::mean_loss<policies::logistic_loss, float>(match_logits_.cview(), side, dlogits_.view(), grad_mode::assign);
        if (w_match != 1.0)
            for (index_t i = 0; i < n; ++i) dlogits_[i] *= static_cast<float>(w_match);
        d_match_module_.backward(dv_match, d_match_ctx_, dlogits_.cview(), aug_pair_grad_.view(),
                                 param_mode == grad_mode::none ? nn::grads_out<float>::unbound(d_match_.layout()) : d_match_.gradients().views(),
                                 data_mode, param_mode);
        if (want_input_grad)
            for (index_t i = 0; i < n; ++i) {
                float* dst = aug_pair_grad_.data() + i * (c + 1) * plane;
                const float* src = aug_image_grad_.data() + i * c * plane;
                for (index_t j = 0; j < c * plane; ++j) dst[j] += src[j];
            }
        return {l_img, l_match};
    }

    void g_main(background_step_stats& s) {
        using core::grad_mode;
        const index_t n = options_.batch, c = options_.image_channels, plane = gen_out_.size(2) * gen_out_.size(3);
        core::fill_normal(z_.view(), state_.stream(draw::g_latents));
        g_ctx_.progress = progress();
        g_module_.forward(std::as_const(g_).parameters().views(), z_.cview(), gen_out_.view(), g_ctx_);
        make_fake_pair();
        augment_forward(fake_pair_, aug_pair_, draw::aug_g_fake);
        const auto [l_img, l_match] =
            run_discriminators(aug_pair_, policies::loss_side::generator, options_.match_weight, true, grad_mode::none);
        s.loss_g_img = l_img;
        s.loss_g_match = l_match;
        s.loss_g = l_img + options_.match_weight * l_match;
        require_finite(s.loss_g, "the generator's loss", state_.step);
        // Back through the augmentation, then the soft mask: d b_raw = d s * k (1 - s^2).
        augment_.backward(aug_ctx_, aug_pair_grad_, pair_grad_);
        const float k = static_cast<float>(options_.mask_sharpness);
        std::copy_n(pair_grad_.data(), pair_grad_.numel(), gen_grad_.data());
        for (index_t i = 0; i < n; ++i) {
            const float* soft = fake_pair_.data() + (i * (c + 1) + c) * plane;
            float* g = gen_grad_.data() + (i * (c + 1) + c) * plane;
            for (index_t j = 0; j < plane; ++j) g[j] *= k * (1.0f - soft[j] * soft[j]);
        }
        g_module_.backward(std::as_const(g_).parameters().views(), g_ctx_, gen_grad_.cview(), dz_.view(), g_.gradients().views(),
                           grad_mode::none, grad_mode::assign);
        g_.require_finite_gradients("G", state_.step);
        g_.apply_gradients();
    }

    void d_main(background_step_stats& s) {
        using core::grad_mode;
        core::fill_normal(z_.view(), state_.stream(draw::d_latents));
        g_ctx_.progress = progress();
        g_module_.forward_updating_buffers(g_.parameters().views(), z_.cview(), gen_out_.view(), g_ctx_,
                                           generator_type::buffer_decay::for_batch(options_.batch));
        make_fake_pair();
        augment_forward(fake_pair_, aug_pair_, draw::aug_d_fake);
        const auto [f_img, f_match] = run_discriminators(aug_pair_, policies::loss_side::fake, 1.0, false, grad_mode::assign);
        augment_forward(real_pair_, aug_real_pair_, draw::aug_d_real);
        const auto [r_img, r_match] = run_discriminators(aug_real_pair_, policies::loss_side::real, 1.0, false, grad_mode::accumulate);
        s.real_sign = real_sign_ / static_cast<double>(options_.batch);
        s.loss_d_img = f_img + r_img;
        s.loss_d_match = f_match + r_match;
        require_finite(s.loss_d_img, "D_img's loss", state_.step);
        require_finite(s.loss_d_match, "D_match's loss", state_.step);
        d_img_.require_finite_gradients("D_img", state_.step);
        d_match_.require_finite_gradients("D_match", state_.step);
        d_img_.apply_gradients();
        d_match_.apply_gradients();
    }

    void d_reg(background_step_stats& s) {
        using core::grad_mode;
        const double gamma = phases_.penalty_weight(options_.gamma(preset_.resolution));
        // R1 with respect to the real pair before augmentation, through one fixed draw of it, as
        // StyleGAN3's Dreg differentiates through its augment pipe.
        const index_t c = options_.image_channels;
        const augmented_type img(d_img_module_, augment_.policy(), c + 1, c, c, state_.stream(draw::aug_r1_real), 0);
        const augmented_type match(d_match_module_, augment_.policy(), c + 1, c, c + 1, state_.stream(draw::aug_r1_real), 0);
        const double r_img = policies::r1_exact(img, std::as_const(d_img_).parameters().views(), real_pair_.cview(), gamma,
                                                d_img_.gradients().views(), grad_mode::assign, r1_img_);
        const double r_match = policies::r1_exact(match, std::as_const(d_match_).parameters().views(), real_pair_.cview(), gamma,
                                                  d_match_.gradients().views(), grad_mode::assign, r1_match_);
        // The R1 pass is a D pass on reals too: its signs feed ADA, as in StyleGAN3.
        augment_.observe_real_logits(r1_img_.logits.cview());
        // Report the penalty without the lazy weight, as StyleGAN logs it.
        s.r1_img = phases_.reported_penalty(r_img);
        s.r1_match = phases_.reported_penalty(r_match);
        require_finite(r_img, "D_img's R1 penalty", state_.step);
        require_finite(r_match, "D_match's R1 penalty", state_.step);
        d_img_.require_finite_gradients("D_img (R1)", state_.step);
        d_match_.require_finite_gradients("D_match (R1)", state_.step);
        d_img_.apply_gradients();
        d_match_.apply_gradients();
    }

    background_training_options options_;
    const models::preset& preset_;
    trainer_state state_;
    gan_iteration<policies::lazy> phases_;
    generator_type g_module_;
    discriminator_type d_img_module_, d_match_module_;
    optimized_network g_, d_img_, d_match_;
    nn::parameter_store<float> g_ema_;
    tuned_augmentation<Augmentation> augment_;
    double real_sign_ = 0;

    // Working tensors and contexts, sized once: a step allocates nothing in steady state.
    core::tensor<float> z_, dz_, gen_out_, gen_grad_, fake_pair_, aug_pair_, aug_pair_grad_, pair_grad_, real_images_,
        real_masks_, real_pair_, aug_real_pair_, aug_image_, aug_image_grad_, logits_, dlogits_, match_logits_;
    generator_type::context<float> g_ctx_;
    discriminator_type::context<float> d_img_ctx_, d_match_ctx_;
    typename tuned_augmentation<Augmentation>::template context<float> aug_ctx_;
    policies::r1_workspace<augmented_type, float> r1_img_, r1_match_;
};

using background_trainer = basic_background_trainer<>;

}  // namespace imbdef::train
