#pragma once
// conv_layer: StyleGAN2's Conv2dLayer (reference/stylegan3.md section 4), the discriminator's
// building block, with the tangent passes of exact R1.
//
//   y = clamp(act(conv(resample(x), w * g_w) + b) * act_gain * gain, +-clamp * gain)
//
// with the equalised-learning-rate gain g_w = 1 / sqrt(in * k^2), weights initialised N(0, 1),
// bias 0, cross-correlation with padding k // 2. With down = 2 the input is first low-passed with
// the [1, 3, 3, 1] FIR: for k > 1 a pure blur (pad 2, size R + 1) followed by a stride-2 conv
// without padding; for k = 1 the FIR downsamples (pad 1, down 2) before the 1x1 conv. The FIR,
// the conv and the bias are linear, and the activation's mask is fixed, so every tangent rule is
// the corresponding op's (ops/upfirdn2d.hpp, ops/conv2d.hpp, ops/bias_act.hpp).

#include <cmath>
#include <optional>
#include <string>

#include "../core/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "../ops/bias_act.hpp"
#include "../ops/conv2d.hpp"
#include "../ops/upfirdn2d.hpp"
#include "module.hpp"

namespace imbdef::nn {

struct conv_layer {
    core::index_t in_channels = 0, out_channels = 0;
    int kernel = 3;
    bool bias = true;
    ops::activation act = ops::activation::lrelu;
    double gain = 1.0;                    // layer gain (sqrt(0.5) for the residual branches)
    std::optional<double> clamp{};        // conv_clamp, scaled by gain; unset: none
    int down = 1;                         // 1 or 2

    parameter_ref weight_ref{}, bias_ref{};

    template <class T>
    struct context {
        core::const_view<T> x, x_dot;
        core::view<T> y;                 // the caller's output, read by backward (the activation mask)
        core::tensor<T> resampled, resampled_dot, weight, dz, dz_dot, d_resampled, d_resampled_dot, dweight;
    };

    void declare(const registry& r) {
        IMBDEF_REQUIRE(in_channels >= 1 && out_channels >= 1 && kernel >= 1 && (down == 1 || down == 2),
                       "nn::conv_layer " + r.prefix(), "channels >= 1, kernel >= 1 and down 1 or 2",
                       std::to_string(in_channels) + " -> " + std::to_string(out_channels) + ", kernel " +
                           std::to_string(kernel) + ", down " + std::to_string(down));
        weight_ref = r.parameter("weight", {out_channels, in_channels, kernel, kernel}, initializer::normal(0, 1));
        if (bias) bias_ref = r.parameter("bias", {out_channels}, initializer::zeros());
    }

    core::shape output_shape(const core::shape& x) const {
        IMBDEF_REQUIRE(x.rank() == 4 && x[1] == in_channels, "nn::conv_layer",
                       "input [N, " + std::to_string(in_channels) + ", H, W]", "shape " + x.to_string());
        const core::shape r = resampled_shape(x);
        return ops::detail::conv2d_output_shape(ops::detail::conv2d_geometry("nn::conv_layer", r, weight_shape(), conv_params()));
    }

    template <class T>
    void forward(params_in<T> p, core::const_view<T> x, core::view<T> y, context<T>& ctx) const {
        ctx.x = x;
        ctx.y = y;
        const core::const_view<T> xr = resample(x, ctx.resampled);
        const core::const_view<T> w = scaled_weight(p, ctx);
        ops::conv2d<T>(xr, w, core::const_view<T>{}, y, conv_params());
        ops::bias_act<T>(y, bias_of(p), y, act_params());
    }

    template <class T>
    void backward(params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::view<T> dx, grads_out<T> g,
                  core::grad_mode data_mode, core::grad_mode param_mode) const {
        const core::view<T> dz = ensure_shape(ctx.dz, dy.shape());
        ops::bias_act_backward<T>(ctx.y, dy, dz, bias ? g[bias_ref] : core::view<T>{}, core::grad_mode::assign,
                                  bias ? param_mode : core::grad_mode::none, act_params());
        backward_through_conv<T>(p, ctx, dz, dx, g, data_mode, param_mode, ctx.d_resampled, false);
    }

    template <class T>
    void forward_tangent(params_in<T>, context<T>& ctx, core::const_view<T> x_dot, core::view<T> y_dot) const {
        ctx.x_dot = x_dot;
        const core::const_view<T> xr_dot = resample(x_dot, ctx.resampled_dot);
        ops::conv2d_forward_tangent<T>(resampled_or_input(ctx), ctx.weight.cview(), xr_dot, core::const_view<T>{},
                                       core::const_view<T>{}, y_dot, conv_params());
        ops::bias_act_forward_tangent<T>(ctx.y, y_dot, core::const_view<T>{}, y_dot, act_params());
    }

    template <class T>
    void backward_tangent(params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::const_view<T> dy_dot,
                          core::view<T> dx, core::view<T> dx_dot, grads_out<T> g_dot, core::grad_mode data_mode,
                          core::grad_mode param_mode) const {
        const core::view<T> dz = ensure_shape(ctx.dz, dy.shape());
        const core::view<T> dz_dot = ensure_shape(ctx.dz_dot, dy.shape());
        ops::bias_act_backward<T>(ctx.y, dy, dz, core::view<T>{}, core::grad_mode::assign, core::grad_mode::none,
                                  act_params());
        ops::bias_act_backward_tangent<T>(ctx.y, dy_dot, dz_dot, bias ? g_dot[bias_ref] : core::view<T>{},
                                          core::grad_mode::assign, bias ? param_mode : core::grad_mode::none, act_params());
        // dx from dz as backward would; dx_dot and the weight-gradient tangent from conv's rule.
        backward_through_conv<T>(p, ctx, dz, dx, g_dot, data_mode, core::grad_mode::none, ctx.d_resampled, false);
        backward_through_conv<T>(p, ctx, dz_dot, dx_dot, g_dot, data_mode, param_mode, ctx.d_resampled_dot, true, dz);
    }

    core::shape weight_shape() const { return {out_channels, in_channels, kernel, kernel}; }

private:
    double weight_gain() const { return 1.0 / std::sqrt(static_cast<double>(in_channels * kernel * kernel)); }
    bool blurs() const { return down == 2; }

    ops::conv2d_params conv_params() const {
        if (down == 2 && kernel > 1) return {2, 0};
        return {1, kernel / 2};
    }
    ops::upfirdn2d_params fir_params() const {
        return kernel > 1 ? ops::upfirdn2d_params::uniform(1, 1, 2, 2, 2, 2) : ops::upfirdn2d_params::uniform(1, 2, 1, 1, 1, 1);
    }
    ops::bias_act_params act_params() const {
        ops::bias_act_params a;
        a.act = act;
        a.gain = (act == ops::activation::lrelu ? std::sqrt(2.0) : 1.0) * gain;
        if (clamp) a.clamp = *clamp * gain;
        return a;
    }

    template <class T>
    static core::const_view<T> fir() {
        static const core::tensor<T> taps({4}, {T(1) / 8, T(3) / 8, T(3) / 8, T(1) / 8});  // [1, 3, 3, 1], separable
        return taps.cview();
    }

    core::shape resampled_shape(const core::shape& x) const {
        return blurs() ? ops::upfirdn2d_output_shape(x, core::shape{4}, fir_params()) : x;
    }

    template <class T>
    core::const_view<T> resample(core::const_view<T> x, core::tensor<T>& buffer) const {
        if (!blurs()) return x;
        const core::view<T> out = ensure_shape(buffer, resampled_shape(x.shape()));
        ops::upfirdn2d<T>(x, fir<T>(), out, fir_params());
        return out;
    }

    template <class T>
    core::const_view<T> resampled_or_input(const context<T>& ctx) const {
        return blurs() ? ctx.resampled.cview() : ctx.x;
    }

    template <class T>
    core::const_view<T> scaled_weight(params_in<T> p, context<T>& ctx) const {
        const auto w = p[weight_ref];
        const core::view<T> out = ensure_shape(ctx.weight, w.shape());
        const T g = static_cast<T>(weight_gain());
        for (core::index_t i = 0; i < w.numel(); ++i) out[i] = w[i] * g;
        return out;
    }

    template <class T>
    static core::const_view<T> bias_of(params_in<T> p, parameter_ref r, bool has) {
        return has ? core::const_view<T>(p[r]) : core::const_view<T>{};
    }
    template <class T>
    core::const_view<T> bias_of(params_in<T> p) const {
        return bias_of<T>(p, bias_ref, bias);
    }

    // From the conv output's gradient dz (or its tangent): the input gradient through conv and FIR
    // under data_mode, and the weight gradient under param_mode. For the tangent pass (`tangent`),
    // dz is dz_dot, the input is paired with its tangent, and dz_first is the first-order dz, so
    // the weight term is wgrad(x_dot, dz) + wgrad(x, dz_dot).
    template <class T>
    void backward_through_conv(params_in<T>, context<T>& ctx, core::const_view<T> dz, core::view<T> dx, grads_out<T> g,
                               core::grad_mode data_mode, core::grad_mode param_mode, core::tensor<T>& d_resampled,
                               bool tangent, core::const_view<T> dz_first = {}) const {
        const core::const_view<T> xr = resampled_or_input(ctx);
        if (data_mode != core::grad_mode::none) {
            if (blurs()) {
                const core::view<T> dr = ensure_shape(d_resampled, xr.shape());
                ops::conv2d_backward_data<T>(dz, ctx.weight.cview(), dr, core::grad_mode::assign, conv_params());
                ops::upfirdn2d_backward<T>(dr, fir<T>(), dx, data_mode, fir_params());
            } else {
                ops::conv2d_backward_data<T>(dz, ctx.weight.cview(), dx, data_mode, conv_params());
            }
        }
        if (param_mode != core::grad_mode::none) {
            const core::view<T> dw = ensure_shape(ctx.dweight, weight_shape());
            ops::conv2d_backward_weight<T>(xr, dz, dw, core::grad_mode::assign, conv_params());
            if (tangent) {
                const core::const_view<T> xr_dot = blurs() ? ctx.resampled_dot.cview() : ctx.x_dot;
                ops::conv2d_backward_weight<T>(xr_dot, dz_first, dw, core::grad_mode::accumulate, conv_params());
            }
            const auto gw = g[weight_ref];
            const T scale = static_cast<T>(weight_gain());
            for (core::index_t i = 0; i < gw.numel(); ++i) core::store_grad(gw[i], dw[i] * scale, param_mode);
        }
    }
};

}  // namespace imbdef::nn
