#pragma once
// The stage-1 background generator: StyleGAN3 config T with imbdef's joint valid-region mask
// channel (METHOD.md, stage 1), built from the synthesis schedule.
//
//   z [N, z_dim] -> mapping: normalize, FC lrelu (lr 0.01) x depth   -> w [N, w_dim]
//   w            -> input: affine (w -> 4, init (1, 0, 0, 0)), Fourier features -> [N, C0, S0, S0]
//                -> L0 .. L_N (synthesis_layer; L_N is to-RGB with image_channels + 1 outputs)
//                -> x 0.25                                        -> [N, C + 1, R, R]
// Channel C of the output is the valid-region mask logit b_raw. Every layer receives the same w
// (StyleGAN3 trains without style mixing). The detail-injection policy (PGDI by default) acts on
// the features between two layers, chosen by `injection`: before the critically sampled layers,
// or after the last filtered layer (the input of to-RGB), where no later low-pass removes what it
// adds. Training progress p in [0, 1] is an input of the forward pass (context::progress; 1 at
// inference). The generator is a unary module z -> image, so the
// whole network is proven by the gradient checker like any module. Parameter names follow the
// official ones where they exist ("mapping.fc0.weight", "synthesis.L3.affine.bias",
// "synthesis.input.freqs").

#include <cmath>
#include <string>
#include <vector>

#include "../nn/fully_connected_layer.hpp"
#include "../nn/normalize_layer.hpp"
#include "../nn/sequential.hpp"
#include "../nn/synthesis_layer.hpp"
#include "../ops/fourier_features.hpp"
#include "../policies/detail_injection.hpp"
#include "presets.hpp"
#include "synthesis_schedule.hpp"

namespace imbdef::models {

enum class injection_point { before_critical_layers, after_last_filtered_layer };

struct background_generator_config {
    synthesis_config synthesis{};
    core::index_t z_dim = 512, w_dim = 512;
    int mapping_layers = 2;
    double mapping_lr_multiplier = 0.01;
    double output_scale = 0.25;
    injection_point injection = injection_point::after_last_filtered_layer;
};

// A preset's generator for `image_channels` (1 or 3) plus `mask_channels` (the valid-region mask;
// 0 gives StyleGAN3's own network): its schedule, z = w = the preset's latent size.
inline background_generator_config background_generator_config_for(const preset& p, int image_channels,
                                                                   int mask_channels = 1) {
    background_generator_config c;
    c.synthesis = p.synthesis(image_channels, mask_channels);
    c.z_dim = c.w_dim = p.latent_dim;
    return c;
}

template <policies::detail_injection DetailInjection = policies::pgdi<>>
class basic_background_generator {
public:
    explicit basic_background_generator(const background_generator_config& c, DetailInjection injection = {})
        : config_(c), schedule_(make_synthesis_schedule(c.synthesis)), injection_(std::move(injection)) {
        IMBDEF_REQUIRE(c.z_dim >= 1 && c.w_dim >= 1 && c.mapping_layers >= 1, "models::background_generator",
                       "z_dim, w_dim and mapping layers >= 1",
                       std::to_string(c.z_dim) + ", " + std::to_string(c.w_dim) + ", " + std::to_string(c.mapping_layers));
        for (int i = 0; i < c.mapping_layers; ++i) {
            nn::fully_connected_layer fc{i == 0 ? c.z_dim : c.w_dim, c.w_dim};
            fc.params.lr_multiplier = c.mapping_lr_multiplier;
            fc.params.act = ops::activation::lrelu;
            mapping_.push_back(fc);
        }
        for (const auto& spec : schedule_.layers) layers_.emplace_back(spec, c.w_dim);
        const int n = c.synthesis.num_layers;
        inject_after_ = c.injection == injection_point::after_last_filtered_layer ? n - 1 : n - c.synthesis.num_critical - 1;
    }

    // The decays of the buffer updates: StyleGAN3's w_avg_beta, and magnitude_ema_beta for a batch.
    struct buffer_decay {
        double w_avg = 0.998;
        double magnitude = 0.5;
        static buffer_decay for_batch(core::index_t batch) noexcept {
            return {0.998, std::pow(0.5, static_cast<double>(batch) / 20000.0)};
        }
    };

    template <class T>
    struct context {
        double progress = 1.0;        // training progress p in [0, 1], read by the detail injection
        double truncation_psi = 1.0;  // w <- w_avg + psi (w - w_avg); 1: no truncation (training)
        core::const_view<T> z;
        core::tensor<T> z_normalized, t, w_grad, dt, dz_normalized;
        std::vector<core::tensor<T>> mapping_out, mapping_grad;  // outputs of fc_i; the last is w
        std::vector<typename nn::fully_connected_layer::template context<T>> fc;
        typename nn::normalize_layer::template context<T> normalize;
        typename nn::fully_connected_layer::template context<T> input_affine;
        std::vector<core::tensor<T>> features, feature_grads;  // input of L_i; feature i + 1 is L_i's output
        std::vector<typename nn::synthesis_layer::template context<T>> layer;
        typename DetailInjection::template context<T> injection;
        core::tensor<T> injected, injected_grad;  // the features after the injection, and their gradient
        core::tensor<T> w_truncated;              // w after truncation, when psi != 1
    };

    // The index of the layer whose output the detail injection transforms.
    int injection_layer() const noexcept { return inject_after_; }
    const DetailInjection& detail_injection() const noexcept { return injection_; }

    const synthesis_schedule& schedule() const noexcept { return schedule_; }
    const background_generator_config& config() const noexcept { return config_; }
    const std::vector<nn::synthesis_layer>& layers() const noexcept { return layers_; }

    void declare(const nn::registry& r) {
        const nn::registry mapping = r.scope("mapping");
        for (std::size_t i = 0; i < mapping_.size(); ++i) mapping_[i].declare(mapping.scope("fc" + std::to_string(i)));
        w_avg_ = mapping.buffer("w_avg", {config_.w_dim}, nn::initializer::zeros());
        const nn::registry synthesis = r.scope("synthesis");
        const nn::registry input = synthesis.scope("input");
        // The input affine starts as the identity transform: weight 0, bias (1, 0, 0, 0).
        const nn::registry affine = input.scope("affine");
        input_affine_ = nn::fully_connected_layer{config_.w_dim, 4};
        input_affine_.weight_ref = affine.parameter("weight", {4, config_.w_dim}, nn::initializer::zeros());
        input_affine_.bias_ref = affine.parameter("bias", {4}, nn::initializer::custom([](core::view<double> b, core::philox_stream) {
                                                      for (core::index_t i = 0; i < 4; ++i) b[i] = i == 0 ? 1.0 : 0.0;
                                                  }));
        const core::index_t c0 = schedule_.input.channels;
        const double bandwidth = schedule_.input.bandwidth;
        input_weight_ = input.parameter("weight", {c0, c0}, nn::initializer::normal(0, 1));
        // Frequencies uniform in the disc of radius bandwidth, phases U(-0.5, 0.5) (reference section 2).
        freqs_ = input.buffer("freqs", {c0, 2}, nn::initializer::custom([bandwidth](core::view<double> f, core::philox_stream rng) {
                                  core::tensor<double> unused_phases({f.size(0)});
                                  ops::fourier_features_init<double>(f, unused_phases.view(), bandwidth, rng);
                              }));
        phases_ = input.buffer("phases", {c0}, nn::initializer::custom([](core::view<double> ph, core::philox_stream rng) {
                                   core::fill_uniform<double>(ph, rng, 0, -0.5, 0.5);
                               }));
        for (auto& L : layers_) L.declare(synthesis.scope("L" + std::to_string(L.spec().index)));
        injection_.declare(synthesis.scope("injection"), schedule_.layers[static_cast<std::size_t>(inject_after_)].out_channels);
    }

    core::shape output_shape(const core::shape& z) const {
        IMBDEF_REQUIRE(z.rank() == 2 && z[1] == config_.z_dim, "models::background_generator",
                       "z of shape [N, " + std::to_string(config_.z_dim) + "]", "shape " + z.to_string());
        const auto& last = schedule_.layers.back();
        return {z[0], last.out_channels, last.out_size, last.out_size};
    }

    template <class T>
    void forward(nn::params_in<T> p, core::const_view<T> z, core::view<T> y, context<T>& ctx) const {
        forward_impl<T>(p, z, y, ctx, nullptr, {});
    }

    // The training-time generator pass of the D phase: updates w_avg from this batch's latents and
    // each layer's magnitude EMA from its input, just before the layer uses it (as StyleGAN3 does),
    // then computes the same output as forward() with the updated buffers.
    template <class T>
    void forward_updating_buffers(nn::parameter_views<T> p, core::const_view<T> z, core::view<T> y, context<T>& ctx,
                                  const buffer_decay& decay) const {
        forward_impl<T>(p, z, y, ctx, &p, decay);
    }

    // The tracked average latent (the truncation centre).
    template <class T>
    core::const_view<T> w_average(nn::params_in<T> p) const {
        return p[w_avg_];
    }

private:
    template <class T>
    void forward_impl(nn::params_in<T> p, core::const_view<T> z, core::view<T> y, context<T>& ctx,
                      const nn::parameter_views<T>* update, const buffer_decay& decay) const {
        const core::index_t n = z.size(0);
        ctx.z = z;
        // Mapping.
        nn::normalize_layer().forward<T>(p, z, nn::ensure_shape(ctx.z_normalized, z.shape()), ctx.normalize);
        ctx.mapping_out.resize(mapping_.size());
        ctx.mapping_grad.resize(mapping_.size());
        ctx.fc.resize(mapping_.size());
        core::const_view<T> in = ctx.z_normalized.cview();
        for (std::size_t i = 0; i < mapping_.size(); ++i) {
            const core::view<T> out = nn::ensure_shape(ctx.mapping_out[i], {n, config_.w_dim});
            mapping_[i].forward<T>(p, in, out, ctx.fc[i]);
            in = out;
        }
        core::const_view<T> w = in;
        if (update) update_w_average<T>(*update, w, decay.w_avg);
        IMBDEF_REQUIRE(std::isfinite(ctx.truncation_psi), "models::background_generator", "a finite truncation psi",
                       std::to_string(ctx.truncation_psi));
        if (ctx.truncation_psi != 1.0) {
            const core::view<T> wt = nn::ensure_shape(ctx.w_truncated, w.shape());
            const core::const_view<T> avg = p[w_avg_];
            const T psi = static_cast<T>(ctx.truncation_psi);
            for (core::index_t i = 0; i < n; ++i)
                for (core::index_t j = 0; j < config_.w_dim; ++j) wt(i, j) = avg[j] + psi * (w(i, j) - avg[j]);
            w = wt;
        }
        // Input.
        const core::view<T> t = nn::ensure_shape(ctx.t, {n, 4});
        input_affine_.forward<T>(p, w, t, ctx.input_affine);
        ctx.features.resize(layers_.size() + 1);
        ctx.feature_grads.resize(layers_.size() + 1);
        ctx.layer.resize(layers_.size());
        const core::view<T> x0 = nn::ensure_shape(
            ctx.features[0], ops::fourier_features_output_shape(n, schedule_.input.channels, fourier_params()));
        ops::fourier_features<T>(p[freqs_], p[phases_], t, p[input_weight_], x0, fourier_params());
        // Layers.
        for (std::size_t i = 0; i < layers_.size(); ++i) {
            const core::const_view<T> x = input_of(ctx, i);
            const core::view<T> out = nn::ensure_shape(ctx.features[i + 1], layers_[i].output_shape(x.shape()));
            if (update) layers_[i].update_magnitude_ema<T>(*update, x, decay.magnitude);
            layers_[i].forward<T>(p, x, w, out, ctx.layer[i]);
            if (static_cast<int>(i) == inject_after_)
                injection_.template forward<T>(p, out, ctx.progress, nn::ensure_shape(ctx.injected, out.shape()), ctx.injection);
        }
        const auto img = ctx.features.back().cview();
        const T scale = static_cast<T>(config_.output_scale);
        for (core::index_t i = 0; i < y.numel(); ++i) y[i] = img[i] * scale;
    }

public:
    template <class T>
    void backward(nn::params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::view<T> dz, nn::grads_out<T> g,
                  core::grad_mode data_mode, core::grad_mode param_mode) const {
        const core::index_t n = dy.size(0);
        const core::view<T> d_img = nn::ensure_shape(ctx.feature_grads.back(), dy.shape());
        const T scale = static_cast<T>(config_.output_scale);
        for (core::index_t i = 0; i < dy.numel(); ++i) d_img[i] = dy[i] * scale;
        const core::view<T> dw = nn::ensure_shape(ctx.w_grad, {n, config_.w_dim});
        for (std::size_t k = layers_.size(); k-- > 0;) {
            // Layer k's input is the injection's output when the injection follows layer k - 1.
            const bool after_injection = k >= 1 && static_cast<int>(k - 1) == inject_after_;
            const core::view<T> dx = after_injection ? nn::ensure_shape(ctx.injected_grad, ctx.injected.shape())
                                                     : nn::ensure_shape(ctx.feature_grads[k], ctx.features[k].shape());
            layers_[k].backward<T>(p, ctx.layer[k], ctx.feature_grads[k + 1].cview(), dx, dw, g, core::grad_mode::assign,
                                param_mode, k + 1 == layers_.size() ? core::grad_mode::assign : core::grad_mode::accumulate);
            if (after_injection)
                injection_.template backward<T>(p, ctx.injection, ctx.injected_grad.cview(),
                                    nn::ensure_shape(ctx.feature_grads[k], ctx.features[k].shape()), g,
                                    core::grad_mode::assign, param_mode);
        }
        const core::view<T> dt = nn::ensure_shape(ctx.dt, ctx.t.shape());
        ops::fourier_features_backward<T>(p[freqs_], p[phases_], ctx.t.cview(), p[input_weight_], ctx.feature_grads[0].cview(),
                                          dt, core::grad_mode::assign, g[input_weight_], param_mode, fourier_params());
        input_affine_.backward<T>(p, ctx.input_affine, dt, dw, g, core::grad_mode::accumulate, param_mode);
        // Truncation scales the latent's gradient by psi (w_avg is a buffer).
        if (ctx.truncation_psi != 1.0) {
            const T psi = static_cast<T>(ctx.truncation_psi);
            for (core::index_t i = 0; i < dw.numel(); ++i) dw[i] *= psi;
        }
        // Mapping, back to z.
        core::const_view<T> d_out = dw;
        for (std::size_t i = mapping_.size(); i-- > 0;) {
            const bool first = i == 0;
            const core::view<T> d_in = first ? nn::ensure_shape(ctx.dz_normalized, ctx.z_normalized.shape())
                                             : nn::ensure_shape(ctx.mapping_grad[i - 1], ctx.mapping_out[i - 1].shape());
            mapping_[i].backward<T>(p, ctx.fc[i], d_out, d_in, g, core::grad_mode::assign, param_mode);
            d_out = d_in;
        }
        nn::normalize_layer().backward<T>(p, ctx.normalize, d_out, dz, g, data_mode, param_mode);
    }

private:
    // w_avg <- mean_n(w) + beta (w_avg - mean_n(w)), the mean taken in double.
    template <class T>
    void update_w_average(const nn::parameter_views<T>& p, core::const_view<T> w, double beta) const {
        const core::view<T> avg = p[w_avg_];
        const core::index_t n = w.size(0);
        for (core::index_t j = 0; j < config_.w_dim; ++j) {
            double mean = 0;
            for (core::index_t i = 0; i < n; ++i) mean += static_cast<double>(w(i, j));
            mean /= static_cast<double>(n);
            avg[j] = static_cast<T>(mean + beta * (static_cast<double>(avg[j]) - mean));
        }
    }

    template <class T>
    core::const_view<T> input_of(const context<T>& ctx, std::size_t i) const {
        return i >= 1 && static_cast<int>(i - 1) == inject_after_ ? ctx.injected.cview() : ctx.features[i].cview();
    }

    ops::fourier_features_params fourier_params() const {
        ops::fourier_features_params f;
        f.size = schedule_.input.size;
        f.sampling_rate = schedule_.input.sampling_rate;
        f.bandwidth = schedule_.input.bandwidth;
        return f;
    }

    background_generator_config config_;
    synthesis_schedule schedule_;
    std::vector<nn::fully_connected_layer> mapping_;
    nn::fully_connected_layer input_affine_{1, 4};
    std::vector<nn::synthesis_layer> layers_;
    nn::parameter_ref input_weight_{}, freqs_{}, phases_{}, w_avg_{};
    DetailInjection injection_;
    int inject_after_ = 0;
};

// The paper's default: PGDI with the cosine-ramp schedule.
using background_generator = basic_background_generator<>;

}  // namespace imbdef::models
