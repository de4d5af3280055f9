#pragma once
// synthesis_layer: one StyleGAN3 synthesis layer (reference/stylegan3.md sections 3.3 to 3.5),
// configured by its row of the schedule (synthesis_layer_spec.hpp, computed by
// models/synthesis_schedule.hpp):
//
//   styles = affine(w)                      FC w_dim -> C_in, bias 1 (to-RGB: times 1/sqrt(C_in k^2))
//   x1     = modconv(x, W, styles)          demodulated except in to-RGB, input gain
//                                           rsqrt(magnitude_ema), full padding k - 1
//   y      = filtered_lrelu(x1, fu, fd, b)  up-FIR, gain * lrelu(slope), clamp 256, down-FIR
//
// The filters are designed once from the schedule (ops/fir.hpp) and kept by the module; the
// magnitude EMA is a buffer updated by update_magnitude_ema during the D phase. The layer takes
// two inputs (features x and the latent w), so it is driven by the synthesis network rather than
// composed with sequential; backward adds its share of the latent's gradient into dw.

#include <cmath>
#include <vector>

#include "../ops/filtered_lrelu.hpp"
#include "../ops/fully_connected.hpp"
#include "../ops/modulated_conv2d.hpp"
#include "module.hpp"
#include "synthesis_filters.hpp"
#include "synthesis_layer_spec.hpp"

namespace imbdef::nn {

class synthesis_layer {
public:
    synthesis_layer(const synthesis_layer_spec& spec, core::index_t w_dim, double conv_clamp = 256.0)
        : spec_(spec), w_dim_(w_dim), clamp_(conv_clamp), filters_(synthesis_filters::design(spec)) {}

    template <class T>
    struct context {
        core::const_view<T> x, w;
        core::tensor<T> styles, x1, fu, fd, d_styles, d_x1;
        core::tensor<T> d_x_unwanted;  // dx when data_mode is none: the op writes it with ds
        core::tensor<std::uint8_t> mask;
    };

    const synthesis_layer_spec& spec() const noexcept { return spec_; }

    void declare(const registry& r) {
        const core::index_t in = spec_.in_channels, out = spec_.out_channels, k = spec_.kernel;
        affine_weight_ = r.scope("affine").parameter("weight", {in, w_dim_}, initializer::normal(0, 1));
        affine_bias_ = r.scope("affine").parameter("bias", {in}, initializer::constant(1.0));
        weight_ = r.parameter("weight", {out, in, k, k}, initializer::normal(0, 1));
        bias_ = r.parameter("bias", {out}, initializer::zeros());
        magnitude_ema_ = r.buffer("magnitude_ema", {1}, initializer::constant(1.0));
    }

    core::shape output_shape(const core::shape& x) const {
        IMBDEF_REQUIRE(x.rank() == 4 && x[1] == spec_.in_channels && x[2] == spec_.in_size && x[3] == spec_.in_size,
                       "nn::synthesis_layer L" + std::to_string(spec_.index),
                       "input [N, " + std::to_string(spec_.in_channels) + ", " + std::to_string(spec_.in_size) + ", " +
                           std::to_string(spec_.in_size) + "]",
                       "shape " + x.to_string());
        return {x[0], spec_.out_channels, spec_.out_size, spec_.out_size};
    }

    template <class T>
    void forward(params_in<T> p, core::const_view<T> x, core::const_view<T> w, core::view<T> y, context<T>& ctx) const {
        ctx.x = x;
        ctx.w = w;
        const core::index_t n = x.size(0);
        const core::view<T> styles = ensure_shape(ctx.styles, {n, spec_.in_channels});
        ops::fully_connected<T>(w, p[affine_weight_], p[affine_bias_], styles, affine_params());
        const core::view<T> x1 = ensure_shape(ctx.x1, conv_shape(n));
        ops::modulated_conv2d<T>(x, p[weight_], styles, x1, modconv_params(p));
        load_filters(ctx);
        const core::shape mask_shape = ops::filtered_lrelu_mask_shape(x1.shape(), ctx.fu.shape(), ctx.fd.shape(), flrelu_params());
        ensure_shape(ctx.mask, mask_shape);
        ops::filtered_lrelu<T>(x1, ctx.fu.cview(), ctx.fd.cview(), p[bias_], y, ctx.mask.view(), flrelu_params());
    }

    // dx under data_mode; dw (the latent's gradient) accumulated, or assigned when `assign_dw`.
    template <class T>
    void backward(params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::view<T> dx, core::view<T> dw,
                  grads_out<T> g, core::grad_mode data_mode, core::grad_mode param_mode, core::grad_mode w_mode) const {
        const core::view<T> dx1 = ensure_shape(ctx.d_x1, ctx.x1.shape());
        ops::filtered_lrelu_backward<T>(ctx.x1.shape(), ctx.fu.cview(), ctx.fd.cview(), ctx.mask.cview(), dy, dx1,
                                        g[bias_], core::grad_mode::assign, param_mode, flrelu_params());
        const core::view<T> ds = ensure_shape(ctx.d_styles, ctx.styles.shape());
        // The op gives ds under the data mode, and the styles' gradient is always needed (it is the
        // affine's): an input gradient that is not wanted goes to scratch, and when dx accumulates,
        // ds accumulates onto zeros.
        const bool want_dx = data_mode != core::grad_mode::none;
        if (data_mode == core::grad_mode::accumulate)
            for (T& v : ds) v = T(0);
        const core::view<T> dx_or_scratch = want_dx ? dx : ensure_shape(ctx.d_x_unwanted, ctx.x.shape());
        ops::modulated_conv2d_backward<T>(ctx.x, p[weight_], ctx.styles.cview(), ctx.x1.cview(), dx1, dx_or_scratch, g[weight_],
                                          ds, want_dx ? data_mode : core::grad_mode::assign, param_mode, modconv_params(p));
        // Styles are an activation: their gradient always flows into the affine layer.
        ops::fully_connected_backward<T>(ctx.w, p[affine_weight_], ctx.styles.cview(), ds, dw, g[affine_weight_],
                                         g[affine_bias_], w_mode, param_mode, affine_params());
    }

    // magnitude_ema <- mean(x^2) + beta (magnitude_ema - mean(x^2)), over the whole input.
    template <class T>
    void update_magnitude_ema(parameter_views<T> p, core::const_view<T> x, double beta) const {
        double sum = 0;
        for (core::index_t i = 0; i < x.numel(); ++i) sum += static_cast<double>(x[i]) * static_cast<double>(x[i]);
        const double cur = x.numel() ? sum / static_cast<double>(x.numel()) : 0.0;
        T& ema = p[magnitude_ema_][0];
        ema = static_cast<T>(cur + beta * (static_cast<double>(ema) - cur));
    }

private:
    core::shape conv_shape(core::index_t n) const { return {n, spec_.out_channels, spec_.conv_size, spec_.conv_size}; }

    ops::fully_connected_params affine_params() const { return {}; }  // lr 1, linear: gain 1/sqrt(w_dim)

    template <class T>
    ops::modulated_conv2d_params modconv_params(params_in<T> p) const {
        ops::modulated_conv2d_params m;
        m.demodulate = !spec_.is_torgb;
        const double ema = static_cast<double>(p[magnitude_ema_][0]);
        m.input_gain = 1.0 / std::sqrt(ema);
        if (spec_.is_torgb) m.input_gain /= std::sqrt(static_cast<double>(spec_.in_channels * spec_.kernel * spec_.kernel));
        m.padding = spec_.kernel - 1;
        return m;
    }

    ops::filtered_lrelu_params flrelu_params() const {
        ops::filtered_lrelu_params f;
        f.up = spec_.up;
        f.down = spec_.down;
        f.pad_x0 = f.pad_y0 = spec_.pad_lo;
        f.pad_x1 = f.pad_y1 = spec_.pad_hi;
        f.gain = spec_.is_torgb ? 1.0 : std::sqrt(2.0);
        f.slope = spec_.is_torgb ? 1.0 : 0.2;
        f.clamp = clamp_;
        return f;
    }

    template <class T>
    void load_filters(context<T>& ctx) const {
        filters_.load(ctx.fu, ctx.fd);
    }

    synthesis_layer_spec spec_;
    core::index_t w_dim_;
    double clamp_;
    synthesis_filters filters_;
    parameter_ref affine_weight_{}, affine_bias_{}, weight_{}, bias_{}, magnitude_ema_{};
};

}  // namespace imbdef::nn
