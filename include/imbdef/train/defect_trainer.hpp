#pragma once
// The stage-2 trainer (METHOD.md, "Stage 2"): the defect generator G (a frozen stage-1 background
// generator with the residual defect branch, models/defect_generator.hpp), the image
// discriminator D_img fine-tuned from stage 1, and a new class-conditional mask-aware matching
// discriminator D_match on the pair (image, soft mask), trained with StyleGAN's phases:
//
//   G main   L_G = softplus(-D_img(A(x_d))) + w_match softplus(-D_match(A(x_d, s), c))
//                  + w_esl L_ESL + w_rcl L_RCL                        (policies/ loss terms)
//   D main   D_img:   softplus(D(A(x_d))) + softplus(-D(A(x)))
//            D_match: softplus(D(A(x_d, s), c)) + softplus(-D(A(x, m), c))
//                     + softplus(D(A(x, m_shuffled), c))               (the explicit matching signal)
//   D reg    every r1_interval steps, lazy exact R1 on the real pairs  for D_img and D_match
//
// with s = tanh(k M) the soft mask (k = 10), real masks m in {-1, 1}, c the defect class, and A
// the augmentation (one transform per sample: the same geometry for image and mask, colour on the
// image only). m_shuffled is the mask of the next sample in the batch (a derangement), paired
// with this sample's image and class: a real image with the wrong mask must score as fake.
//
// ESL pairs the batch's halves: samples h + i repeat sample i's background code with their own
// defect codes, so L_ESL compares M(z_i, z_d,i) with M(z_i, z_d,h+i), and its gradient reaches
// the masks and the defect styles. RCL reads every sample's M with the frozen valid region b of
// its own background. Adversarial terms use the whole batch. Each term is logged by name.
//
// The stage-1 network inside G is frozen (buffers): no gradient, no optimiser state, the same
// bits at every step. The checkpoint records the stage-1 checkpoint it was built from by content
// hash; resuming with another is refused. A resumed run continues bit for bit, as stage 1.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/content_hash.hpp"
#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../core/tensor.hpp"
#include "../models/defect_generator.hpp"
#include "../models/image_discriminator.hpp"
#include "../models/matching_discriminator.hpp"
#include "../models/presets.hpp"
#include "../nn/with_classes.hpp"
#include "../policies/adversarial_loss.hpp"
#include "../policies/augmentation.hpp"
#include "../policies/augmented_discriminator.hpp"
#include "../policies/edge_structure_loss.hpp"
#include "../policies/r1_penalty.hpp"
#include "../policies/region_consistency_loss.hpp"
#include "../policies/regularization_schedule.hpp"
#include "adam.hpp"
#include "checkpoint.hpp"
#include "ema.hpp"
#include "finite_checks.hpp"
#include "frozen_background.hpp"
#include "gan_iteration.hpp"
#include "gan_state.hpp"
#include "optimized_network.hpp"
#include "trainer_state.hpp"
#include "training_checkpoint.hpp"
#include "tuned_augmentation.hpp"

namespace imbdef::train {

using core::index_t;

// A source of real defect batches: images [N, C, R, R] in [-1, 1], masks [N, 1, R, R] in {-1, 1}
// and one class per sample. Its order must be a function of the batches it has served.
template <class S>
concept defect_batch_source = requires(S& s, core::view<float> images, core::view<float> masks, std::span<int> classes) {
    s.next(images, masks, classes);
};

struct defect_training_options {
    std::filesystem::path background_checkpoint;  // the stage-1 checkpoint: G_ema frozen, D_img fine-tuned
    std::vector<std::string> class_names{"defect"};
    index_t batch = 8;           // even: ESL pairs the halves
    double total_kimg = 100;
    std::uint64_t seed = 0;
    int start_layer = -1;        // the branch's first layer; -1: METHOD.md's default
    int composite_radius = 2;    // models::output_composite: the background beyond this band; -1: off
    // In (0, 1): the to-mask bias starts where the generator's masks cover this share of the
    // image on a batch of random codes (calibrate_mask_bias); the CLI passes the median area of
    // the training defects. <= 0: METHOD.md's zero bias, masks over about half the image at first.
    double initial_mask_area = -1;
    // > 0: the real defects are native-scale patches of the images resampled by this factor
    // (data/defect_patches.hpp). It must equal the stage-1 checkpoint's config.patch_scale (absent:
    // whole images): a patch model and a whole-image model see the world at different scales,
    // and mixing them is refused naming which is which. Recorded as config.patch_scale.
    double patch_scale = 0;
    double g_lr = 0.0025, d_lr = 0.002;
    double r1_gamma = -1;        // < 0: 0.5 (R / 128)^2, as stage 1
    int r1_interval = 16;
    double match_weight = 1.0, esl_weight = 0.1, rcl_weight = 1.0;
    double mask_sharpness = 10;  // k of tanh(k M), what D_match sees and ESL reads
    double ema_half_life_kimg = -1;  // < 0: batch * 10 / 32
    double ema_rampup = 0.05;
    bool augment = true;
    policies::ada_options ada{};
    double ada_initial_p = 0;

    double gamma(int resolution) const {
        return r1_gamma >= 0 ? r1_gamma : 0.5 * std::pow(static_cast<double>(resolution) / 128.0, 2.0);
    }
    void validate() const {
        const std::string where = "defect_training_options";
        IMBDEF_REQUIRE(batch >= 2 && batch % 2 == 0, where, "an even batch of at least 2 (ESL pairs its halves)", std::to_string(batch));
        IMBDEF_REQUIRE(!class_names.empty(), where, "at least one defect class", "none");
        IMBDEF_REQUIRE(total_kimg > 0 && std::isfinite(total_kimg), where, "total_kimg > 0", std::to_string(total_kimg));
        IMBDEF_REQUIRE(r1_interval >= 1, where, "r1_interval >= 1", std::to_string(r1_interval));
        IMBDEF_REQUIRE(match_weight >= 0 && esl_weight >= 0 && rcl_weight >= 0, where, "loss weights >= 0",
                       std::to_string(match_weight) + ", " + std::to_string(esl_weight) + ", " + std::to_string(rcl_weight));
        IMBDEF_REQUIRE(mask_sharpness > 0, where, "mask_sharpness > 0", std::to_string(mask_sharpness));
        models::check_output_composite({composite_radius}, where + " composite_radius");
        IMBDEF_REQUIRE(initial_mask_area < 1 && std::isfinite(initial_mask_area), where, "initial_mask_area < 1 (<= 0: off)",
                       std::to_string(initial_mask_area));
        IMBDEF_REQUIRE(patch_scale >= 0 && patch_scale <= 16, where, "patch_scale in [0, 16] (0: whole images)", std::to_string(patch_scale));
    }
};

struct defect_step_stats {
    std::int64_t step = 0, images_seen = 0;
    double progress = 0;
    double loss_g = 0, loss_g_img = 0, loss_g_match = 0, loss_esl = 0, loss_rcl = 0;
    double loss_d_img = 0, loss_d_match = 0, loss_d_shuffled = 0;
    std::optional<double> r1_img, r1_match;
    double real_sign = 0, ada_p = 0;
};

// A defect stage on patches at `patch_scale` (0: whole images) needs a stage 1 trained the same
// way: a patch model and a whole-image model see the world at different scales. Mixing them, or
// patches at two scales, is refused naming which is which.
inline void require_matching_patch_scale(const background_checkpoint_info& stage1, double patch_scale, const std::filesystem::path& path) {
    const double stage1_scale = stage1.metadata.at("config").value("patch_scale", 0.0);
    const auto kind = [](double scale) {
        return scale > 0 ? "native-scale patches at scale " + std::to_string(scale) : std::string("whole images");
    };
    IMBDEF_REQUIRE(stage1_scale == patch_scale, "defect stage on " + path.string(),
                   "a stage-1 checkpoint trained on " + kind(patch_scale) + ", as this defect stage is (train-background" +
                       (patch_scale > 0 ? " --patch" : " without --patch") + ")",
                   "one trained on " + kind(stage1_scale));
}

template <policies::augmentation_policy Augmentation = policies::ada>
class basic_defect_trainer {
public:
    using generator_type = models::defect_generator;
    using image_discriminator_type = models::image_discriminator;
    using matching_discriminator_type = models::basic_matching_discriminator<>;
    using classed_match = nn::with_classes<matching_discriminator_type>;
    using augmented_img = policies::augmented_discriminator<image_discriminator_type, Augmentation>;
    using augmented_match = policies::augmented_discriminator<classed_match, Augmentation>;

    explicit basic_defect_trainer(defect_training_options o)
        : options_((o.validate(), std::move(o))),
          stage1_(read_background_checkpoint(options_.background_checkpoint)),
          stage1_hash_(core::file_content_hash(options_.background_checkpoint)),
          same_scale_((require_matching_patch_scale(stage1_, options_.patch_scale, options_.background_checkpoint), true)),
          preset_(*stage1_.preset),
          channels_(stage1_.image_channels),
          state_{.seed = options_.seed, .total_kimg = options_.total_kimg},
          phases_{policies::lazy(static_cast<std::uint64_t>(options_.r1_interval))},
          g_module_(generator_config()),
          d_img_module_(models::make_image_discriminator(preset_.image_discriminator(channels_))),
          d_match_module_(models::make_matching_discriminator(preset_.matching_discriminator(channels_), {},
                                                               static_cast<index_t>(options_.class_names.size()))),
          g_(g_module_, adam_options::stylegan(options_.g_lr), options_.seed * 4 + 1),
          d_img_(d_img_module_, phases_.discriminator_optimizer(adam_options::stylegan(options_.d_lr)), options_.seed * 4 + 2),
          d_match_(d_match_module_, phases_.discriminator_optimizer(adam_options::stylegan(options_.d_lr)), options_.seed * 4 + 3),
          g_ema_(g_.layout()),
          augment_(options_.augment, options_.ada, options_.ada_initial_p) {
        // Stage 1: its EMA generator frozen inside G, its D_img as D_img's start.
        load_frozen_background(g_module_, g_.parameters().views(), options_.background_checkpoint);
        checkpoint_reader(options_.background_checkpoint).load_group("D_img", d_img_.parameters());
        const index_t n = options_.batch, c = channels_, r = preset_.resolution, k = static_cast<index_t>(preset_.latent_dim);
        for (auto* t : {&image_, &background_, &image_grad_, &real_images_, &aug_image_, &aug_image_grad_}) nn::ensure_shape(*t, {n, c, r, r});
        for (auto* t : {&logit_, &mask_, &valid_, &logit_grad_, &real_masks_, &shuffled_masks_}) nn::ensure_shape(*t, {n, 1, r, r});
        for (auto* t : {&fake_pair_, &aug_pair_, &aug_pair_grad_, &pair_grad_, &real_pair_, &aug_real_pair_, &shuffled_pair_})
            nn::ensure_shape(*t, {n, c + 1, r, r});
        for (auto* t : {&z_, &zd_, &dzd_}) nn::ensure_shape(*t, {n, k});
        nn::ensure_shape(style_grad_, {n, static_cast<index_t>(g_module_.config().w_dim)});
        for (auto* t : {&logits_, &dlogits_, &match_logits_}) nn::ensure_shape(*t, {n, 1});
        classes_.assign(static_cast<std::size_t>(n), 0);
        real_classes_.assign(static_cast<std::size_t>(n), 0);
        if (options_.initial_mask_area > 0) calibrate_mask_bias(options_.initial_mask_area);
        nn::copy_values<float>(std::as_const(g_).parameters().views(), g_ema_.views());
    }

    // The share of the image the generator's masks cover on the calibration batch (random codes
    // from their own stream, classes in turn), at the current weights.
    double mask_area_now() {
        draw_calibration_codes();
        generate();
        double set = 0;
        for (const float v : mask_) set += v > 0.5f ? 1.0 : 0.0;
        return set / static_cast<double>(mask_.numel());
    }

    template <defect_batch_source Source>
    defect_step_stats step(Source& reals) {
        const index_t n = options_.batch;
        defect_step_stats s;
        s.step = state_.step;
        s.progress = progress();
        reals.next(real_images_.view(), real_masks_.view(), std::span<int>(real_classes_));
        require_finite_batch(real_images_, "the real defect images", state_.step);
        require_finite_batch(real_masks_, "the real defect masks", state_.step);
        for (const int c : real_classes_)
            IMBDEF_REQUIRE(c >= 0 && c < num_classes(), "defect_trainer: the real batch", "classes in [0, " + std::to_string(num_classes()) + ")",
                           std::to_string(c));
        make_pair(real_images_, real_masks_, real_pair_);
        // The shuffled negative: each image with the next sample's mask.
        const index_t plane = real_masks_.size(2) * real_masks_.size(3);
        for (index_t i = 0; i < n; ++i) std::copy_n(real_masks_.data() + ((i + 1) % n) * plane, plane, shuffled_masks_.data() + i * plane);
        make_pair(real_images_, shuffled_masks_, shuffled_pair_);

        phases_.run(
            state_.step, [&] { g_main(s); }, [&] { d_main(s); }, [&] { d_reg(s); },
            [&] {
                const ema_options ema{options_.ema_half_life_kimg >= 0 ? options_.ema_half_life_kimg : static_cast<double>(n) * 10.0 / 32.0,
                                      options_.ema_rampup};
                update_ema(g_ema_, g_.parameters(), ema, state_.images_seen, n);
                augment_.end_step(n);
                state_.end_step(n);
            });
        s.images_seen = state_.images_seen;
        s.ada_p = augment_.probability();
        return s;
    }

    // ---- state ----
    std::int64_t steps_done() const noexcept { return state_.step; }
    std::int64_t images_seen() const noexcept { return state_.images_seen; }
    double progress() const noexcept { return state_.progress(); }
    int num_classes() const noexcept { return static_cast<int>(options_.class_names.size()); }
    const defect_training_options& options() const noexcept { return options_; }
    const models::preset& preset() const noexcept { return preset_; }
    int image_channels() const noexcept { return channels_; }
    const generator_type& generator() const noexcept { return g_module_; }
    const nn::parameter_store<float>& generator_parameters() const noexcept { return g_.parameters(); }
    const nn::parameter_store<float>& generator_ema() const noexcept { return g_ema_; }
    const nn::parameter_store<float>& image_discriminator_parameters() const noexcept { return d_img_.parameters(); }
    const nn::parameter_store<float>& matching_discriminator_parameters() const noexcept { return d_match_.parameters(); }
    double augmentation_probability() const noexcept { return augment_.probability(); }

    // ---- checkpoints (kind imbdef.defect: what train::defect_sampler loads) ----
    void save(const std::filesystem::path& path, const nlohmann::json& extra = {}) const {
        save_gan_checkpoint(path, describe(), extra, g_, g_ema_, d_img_, d_match_, state_, augment_);
    }

    void load(const std::filesystem::path& path) {
        load_gan_checkpoint(path, describe(), "a defect-stage checkpoint of this configuration", {"total_kimg"}, g_, g_ema_, d_img_, d_match_, state_, augment_);
    }

    nlohmann::json describe() const {
        nlohmann::json cfg = {{"preset", std::string(preset_.name)},
                              {"resolution", preset_.resolution},
                              {"image_channels", channels_},
                              {"classes", options_.class_names},
                              {"start_layer", g_module_.start_layer()},
                              {"composite_radius", options_.composite_radius},
                              {"initial_mask_area", options_.initial_mask_area},
                              {"batch", options_.batch},
                              {"total_kimg", options_.total_kimg},
                              {"seed", options_.seed},
                              {"g_lr", options_.g_lr},
                              {"d_lr", options_.d_lr},
                              {"r1_gamma", options_.gamma(preset_.resolution)},
                              {"r1_interval", options_.r1_interval},
                              {"match_weight", options_.match_weight},
                              {"esl_weight", options_.esl_weight},
                              {"rcl_weight", options_.rcl_weight},
                              {"mask_sharpness", options_.mask_sharpness},
                              {"augment", options_.augment},
                              {"augmentation_policy", std::string(Augmentation::name)},
                              {"blend", std::string(generator_type::blend_type::name)},
                              {"background_checkpoint_hash", stage1_hash_}};
        if (options_.patch_scale > 0) cfg["patch_scale"] = options_.patch_scale;  // absent: whole images
        return {{"kind", "imbdef.defect"}, {"format", 1}, {"config", cfg}};
    }

private:
    enum class draw : std::uint64_t { g_latents = 1, g_defect_latents, d_latents, d_defect_latents, aug_g_fake, aug_d_fake, aug_d_real,
                                      aug_d_shuffled, aug_r1_real, g_classes, d_classes, mask_calibration_latents,
                                      mask_calibration_defect_latents };

    models::defect_generator_config generator_config() const {
        auto c = models::defect_generator_config_for(preset_, channels_, num_classes());
        c.start_layer = options_.start_layer;
        c.composite.radius = options_.composite_radius;
        return c;
    }

    static void make_pair(const core::tensor<float>& images, const core::tensor<float>& masks, core::tensor<float>& pair) {
        const index_t n = images.size(0), c = images.size(1), plane = masks.size(2) * masks.size(3);
        for (index_t i = 0; i < n; ++i) {
            std::copy_n(images.data() + i * c * plane, c * plane, pair.data() + i * (c + 1) * plane);
            std::copy_n(masks.data() + i * plane, plane, pair.data() + (i * (c + 1) + c) * plane);
        }
    }

    // Codes for a generator pass: backgrounds for the first half, repeated in the second (ESL's
    // pairs); defect codes for all; classes drawn in proportion to the real batch's (its labels,
    // shuffled by the step's stream), so the class mix follows the data.
    void draw_codes(draw latents, draw defect_latents, draw class_draw) {
        const index_t n = options_.batch, h = n / 2, k = z_.size(1);
        core::fill_normal(z_.view(), state_.stream(latents));
        std::copy_n(z_.data(), h * k, z_.data() + h * k);
        core::fill_normal(zd_.view(), state_.stream(defect_latents));
        const core::philox_stream rng = state_.stream(class_draw);
        for (index_t i = 0; i < n; ++i)
            classes_[static_cast<std::size_t>(i)] =
                real_classes_[static_cast<std::size_t>(std::min<std::uint32_t>(rng.bits(static_cast<std::uint64_t>(i)) % static_cast<std::uint32_t>(n),
                                                                                   static_cast<std::uint32_t>(n - 1)))];
    }

    // Shifts the to-mask conv's bias so that the output masks of the calibration batch cover
    // `area` of the image: M at the output is the start layer's logit through linear resampling
    // filters, so a bias shift moves it by about the same constant. The threshold that leaves
    // `area` of the pixels (inside the valid region, where masks can be) at or above it is
    // subtracted; a second round corrects what the filters' edges and the valid region bend.
    // Deterministic: the codes come from their own stream at step 0.
    void calibrate_mask_bias(double area) {
        const auto bias = g_.parameters().views()["to_mask.bias"];
        std::vector<float> logits;
        for (int round = 0; round < 2; ++round) {
            draw_calibration_codes();
            generate();
            logits.clear();
            for (index_t q = 0; q < logit_.numel(); ++q)
                if (valid_[q] > 0) logits.push_back(logit_[q]);
            if (logits.empty()) return;  // no valid region anywhere: nothing to calibrate against
            const auto want = static_cast<std::size_t>(std::clamp(area * static_cast<double>(logit_.numel()), 1.0,
                                                                  static_cast<double>(logits.size())));
            std::nth_element(logits.begin(), logits.begin() + static_cast<std::ptrdiff_t>(want - 1), logits.end(), std::greater<float>());
            bias[0] -= logits[want - 1];
        }
    }

    void draw_calibration_codes() {
        const index_t n = options_.batch;
        core::fill_normal(z_.view(), state_.stream(draw::mask_calibration_latents));
        core::fill_normal(zd_.view(), state_.stream(draw::mask_calibration_defect_latents));
        for (index_t i = 0; i < n; ++i) classes_[static_cast<std::size_t>(i)] = static_cast<int>(i % num_classes());
    }

    void generate() {
        g_ctx_.progress = progress();
        g_module_.forward(std::as_const(g_).parameters().views(), z_.cview(), zd_.cview(), classes_,
                          {.image = image_.view(), .mask_logit = logit_.view(), .mask = mask_.view(),
                           .background = background_.view(), .valid_region = valid_.view()},
                          g_ctx_);
        // The fake pair [x_d, tanh(k M)].
        const float k = static_cast<float>(options_.mask_sharpness);
        make_pair(image_, logit_, fake_pair_);
        const index_t n = options_.batch, c = channels_, plane = logit_.size(2) * logit_.size(3);
        for (index_t i = 0; i < n; ++i) {
            float* m = fake_pair_.data() + (i * (c + 1) + c) * plane;
            for (index_t j = 0; j < plane; ++j) m[j] = std::tanh(k * m[j]);
        }
    }

    // D_img on the image channels and D_match on the pair, both of one augmented batch; returns
    // their mean losses. With want_input_grad, d(L_img + w_match L_match)/d(pair) lands in aug_pair_grad_.
    std::pair<double, double> run_discriminators(const core::tensor<float>& aug_pair, std::span<const int> classes,
                                                 policies::loss_side side, double w_match, bool run_img, bool want_input_grad,
                                                 core::grad_mode img_params, core::grad_mode match_params) {
        using core::grad_mode;
        const index_t n = options_.batch, c = channels_, plane = aug_pair.size(2) * aug_pair.size(3);
        const grad_mode data_mode = want_input_grad ? grad_mode::assign : grad_mode::none;
        double l_img = 0;
        if (run_img) {
            for (index_t i = 0; i < n; ++i) std::copy_n(aug_pair.data() + i * (c + 1) * plane, c * plane, aug_image_.data() + i * c * plane);
            const auto dv = std::as_const(d_img_).parameters().views();
            d_img_module_.forward(dv, aug_image_.cview(), logits_.view(), d_img_ctx_);
            l_img = policies::mean_loss<policies::logistic_loss, float>(logits_.cview(), side, dlogits_.view(), grad_mode::assign);
            if (side == policies::loss_side::real) {
                real_sign_ = 0;
                for (index_t i = 0; i < n; ++i) real_sign_ += logits_[i] > 0 ? 1.0 : (logits_[i] < 0 ? -1.0 : 0.0);
                augment_.observe_real_logits(logits_.cview());
            }
            d_img_module_.backward(dv, d_img_ctx_, dlogits_.cview(), aug_image_grad_.view(),
                                   img_params == grad_mode::none ? nn::grads_out<float>::unbound(d_img_.layout()) : d_img_.gradients().views(),
                                   data_mode, img_params);
        }
        const auto mv = std::as_const(d_match_).parameters().views();
        d_match_ctx_.classes = classes;
        d_match_module_.forward(mv, aug_pair.cview(), match_logits_.view(), d_match_ctx_);
        const double l_match = policies::mean_loss<policies::logistic_loss, float>(match_logits_.cview(), side, dlogits_.view(), grad_mode::assign);
        if (w_match != 1.0)
            for (index_t i = 0; i < n; ++i) dlogits_[i] *= static_cast<float>(w_match);
        d_match_module_.backward(mv, d_match_ctx_, dlogits_.cview(), aug_pair_grad_.view(),
                                 match_params == grad_mode::none ? nn::grads_out<float>::unbound(d_match_.layout()) : d_match_.gradients().views(),
                                 data_mode, match_params);
        if (want_input_grad && run_img)
            for (index_t i = 0; i < n; ++i) {
                float* dst = aug_pair_grad_.data() + i * (c + 1) * plane;
                const float* src = aug_image_grad_.data() + i * c * plane;
                for (index_t j = 0; j < c * plane; ++j) dst[j] += src[j];
            }
        return {l_img, l_match};
    }

    void g_main(defect_step_stats& s) {
        using core::grad_mode;
        const index_t n = options_.batch, h = n / 2, c = channels_, plane = logit_.size(2) * logit_.size(3);
        draw_codes(draw::g_latents, draw::g_defect_latents, draw::g_classes);
        generate();
        augment_.forward(fake_pair_, c, aug_pair_, aug_ctx_, state_.stream(draw::aug_g_fake));
        const auto [l_img, l_match] = run_discriminators(aug_pair_, classes_, policies::loss_side::generator, options_.match_weight,
                                                         true, true, grad_mode::none, grad_mode::none);
        augment_.backward(aug_ctx_, aug_pair_grad_, pair_grad_);
        // Split the pair's gradient: the image part, and the soft mask's through tanh: dM = ds k (1 - s^2).
        const float k = static_cast<float>(options_.mask_sharpness);
        for (index_t i = 0; i < n; ++i) {
            std::copy_n(pair_grad_.data() + i * (c + 1) * plane, c * plane, image_grad_.data() + i * c * plane);
            const float* ds = pair_grad_.data() + (i * (c + 1) + c) * plane;
            const float* soft = fake_pair_.data() + (i * (c + 1) + c) * plane;
            float* dm = logit_grad_.data() + i * plane;
            for (index_t j = 0; j < plane; ++j) dm[j] = ds[j] * k * (1.0f - soft[j] * soft[j]);
        }
        // RCL on every sample, ESL on the halves (the same backgrounds, two defect codes).
        for (float& v : style_grad_) v = 0;
        const core::const_view<float> w = generator_type::styles(g_ctx_);
        const index_t wd = w.size(1), hp = h * plane;
        const core::shape half_mask{h, 1, logit_.size(2), logit_.size(3)}, half_w{h, wd};
        double rcl = 0, esl = 0;
        if (options_.rcl_weight > 0)
            rcl = rcl_.backward(policies::generated_batch<float>{.mask_logits = logit_.cview(), .valid_region = valid_.cview()},
                                static_cast<float>(options_.rcl_weight), policies::generated_batch_grads<float>{.mask_logits = logit_grad_.view()}, grad_mode::accumulate,
                                grad_mode::none);
        if (options_.esl_weight > 0)
            esl = esl_.backward(
                policies::generated_batch<float>{.mask_logits = core::const_view<float>(logit_.data(), half_mask),
                                                 .defect_codes = core::const_view<float>(w.data(), half_w),
                                                 .mask_logits_2 = core::const_view<float>(logit_.data() + hp, half_mask),
                                                 .defect_codes_2 = core::const_view<float>(w.data() + h * wd, half_w)},
                static_cast<float>(options_.esl_weight),
                policies::generated_batch_grads<float>{.mask_logits = core::view<float>(logit_grad_.data(), half_mask), .defect_codes = core::view<float>(style_grad_.data(), half_w),
                 .mask_logits_2 = core::view<float>(logit_grad_.data() + hp, half_mask),
                 .defect_codes_2 = core::view<float>(style_grad_.data() + h * wd, half_w)},
                grad_mode::accumulate, grad_mode::accumulate);
        s.loss_g_img = l_img;
        s.loss_g_match = l_match;
        s.loss_esl = esl;
        s.loss_rcl = rcl;
        s.loss_g = l_img + options_.match_weight * l_match + options_.esl_weight * esl + options_.rcl_weight * rcl;
        require_finite(s.loss_g, "the generator's loss", state_.step);
        g_module_.backward(std::as_const(g_).parameters().views(), g_ctx_, image_grad_.cview(), logit_grad_.cview(), dzd_.view(),
                           g_.gradients().views(), grad_mode::none, grad_mode::assign, style_grad_.cview());
        g_.require_finite_gradients("G", state_.step);
        g_.apply_gradients();
    }

    void d_main(defect_step_stats& s) {
        using core::grad_mode;
        const index_t c = channels_;
        draw_codes(draw::d_latents, draw::d_defect_latents, draw::d_classes);
        generate();
        augment_.forward(fake_pair_, c, aug_pair_, aug_ctx_, state_.stream(draw::aug_d_fake));
        const auto [f_img, f_match] = run_discriminators(aug_pair_, classes_, policies::loss_side::fake, 1.0, true, false,
                                                         grad_mode::assign, grad_mode::assign);
        augment_.forward(real_pair_, c, aug_real_pair_, aug_ctx_, state_.stream(draw::aug_d_real));
        const auto [r_img, r_match] = run_discriminators(aug_real_pair_, real_classes_, policies::loss_side::real, 1.0, true, false,
                                                         grad_mode::accumulate, grad_mode::accumulate);
        s.real_sign = real_sign_ / static_cast<double>(options_.batch);
        augment_.forward(shuffled_pair_, c, aug_real_pair_, aug_ctx_, state_.stream(draw::aug_d_shuffled));
        const auto [unused, sh_match] = run_discriminators(aug_real_pair_, real_classes_, policies::loss_side::fake, 1.0, false, false,
                                                           grad_mode::none, grad_mode::accumulate);
        (void)unused;
        s.loss_d_img = f_img + r_img;
        s.loss_d_match = f_match + r_match;
        s.loss_d_shuffled = sh_match;
        require_finite(s.loss_d_img, "D_img's loss", state_.step);
        require_finite(s.loss_d_match + sh_match, "D_match's loss", state_.step);
        d_img_.require_finite_gradients("D_img", state_.step);
        d_match_.require_finite_gradients("D_match", state_.step);
        d_img_.apply_gradients();
        d_match_.apply_gradients();
    }

    void d_reg(defect_step_stats& s) {
        using core::grad_mode;
        const double gamma = phases_.penalty_weight(options_.gamma(preset_.resolution));
        const index_t c = channels_;
        const augmented_img img(d_img_module_, augment_.policy(), c + 1, c, c, state_.stream(draw::aug_r1_real), 0);
        const classed_match classed(d_match_module_, real_classes_);
        const augmented_match match(classed, augment_.policy(), c + 1, c, c + 1, state_.stream(draw::aug_r1_real), 0);
        const double r_img = policies::r1_exact(img, std::as_const(d_img_).parameters().views(), real_pair_.cview(), gamma,
                                                d_img_.gradients().views(), grad_mode::assign, r1_img_);
        const double r_match = policies::r1_exact(match, std::as_const(d_match_).parameters().views(), real_pair_.cview(), gamma,
                                                  d_match_.gradients().views(), grad_mode::assign, r1_match_);
        augment_.observe_real_logits(r1_img_.logits.cview());
        s.r1_img = phases_.reported_penalty(r_img);
        s.r1_match = phases_.reported_penalty(r_match);
        require_finite(r_img, "D_img's R1 penalty", state_.step);
        require_finite(r_match, "D_match's R1 penalty", state_.step);
        d_img_.require_finite_gradients("D_img (R1)", state_.step);
        d_match_.require_finite_gradients("D_match (R1)", state_.step);
        d_img_.apply_gradients();
        d_match_.apply_gradients();
    }

    defect_training_options options_;
    background_checkpoint_info stage1_;
    std::string stage1_hash_;
    bool same_scale_;  // require_same_scale ran
    const models::preset& preset_;
    int channels_;
    trainer_state state_;
    gan_iteration<policies::lazy> phases_;
    generator_type g_module_;
    image_discriminator_type d_img_module_;
    matching_discriminator_type d_match_module_;
    optimized_network g_, d_img_, d_match_;
    nn::parameter_store<float> g_ema_;
    tuned_augmentation<Augmentation> augment_;
    policies::edge_structure_loss esl_{};
    policies::region_consistency_loss rcl_{};
    double real_sign_ = 0;

    core::tensor<float> z_, zd_, dzd_, style_grad_, image_, background_, logit_, mask_, valid_, image_grad_, logit_grad_, fake_pair_,
        aug_pair_, aug_pair_grad_, pair_grad_, real_images_, real_masks_, shuffled_masks_, real_pair_, aug_real_pair_, shuffled_pair_,
        aug_image_, aug_image_grad_, logits_, dlogits_, match_logits_;
    std::vector<int> classes_, real_classes_;
    generator_type::context<float> g_ctx_;
    image_discriminator_type::context<float> d_img_ctx_;
    matching_discriminator_type::context<float> d_match_ctx_;
    typename tuned_augmentation<Augmentation>::template context<float> aug_ctx_;
    policies::r1_workspace<augmented_img, float> r1_img_;
    policies::r1_workspace<augmented_match, float> r1_match_;
};

using defect_trainer = basic_defect_trainer<>;

}  // namespace imbdef::train
