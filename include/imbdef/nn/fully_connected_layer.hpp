#pragma once
// fully_connected_layer: the equalised-learning-rate linear layer with a fused activation
// (ops/fully_connected.hpp): y = act(x (W g_w)^T + b g_b) with g_w = lr_mult / sqrt(in) and
// g_b = lr_mult. Weights are stored as N(0, 1) / lr_mult; the bias as bias_init / lr_mult when
// `bias_init_scaled_by_lr` (StyleGAN3's mapping layers), else as bias_init (StyleGAN2's, used by
// the discriminator; the two agree at lr_mult 1). With the tangent passes of exact R1 (the
// discriminator epilogue's fc and out layers).

#include <string>

#include "../ops/fully_connected.hpp"
#include "module.hpp"

namespace imbdef::nn {

struct fully_connected_layer {
    core::index_t in_features = 0, out_features = 0;
    ops::fully_connected_params params{};
    bool bias = true;
    double bias_init = 0.0;
    bool bias_init_scaled_by_lr = true;

    parameter_ref weight_ref{}, bias_ref{};

    template <class T>
    struct context {
        core::const_view<T> x, x_dot;
        core::view<T> y;
    };

    void declare(const registry& r) {
        IMBDEF_REQUIRE(in_features >= 1 && out_features >= 1 && params.lr_multiplier > 0,
                       "nn::fully_connected_layer " + r.prefix(), "features >= 1 and a positive lr multiplier",
                       std::to_string(in_features) + " -> " + std::to_string(out_features) + ", lr multiplier " +
                           std::to_string(params.lr_multiplier));
        const double lr = params.lr_multiplier;
        weight_ref = r.parameter("weight", {out_features, in_features}, initializer::normal(0, 1.0 / lr));
        if (bias)
            bias_ref = r.parameter("bias", {out_features},
                                   initializer::constant(bias_init_scaled_by_lr ? bias_init / lr : bias_init));
    }

    core::shape output_shape(const core::shape& x) const {
        IMBDEF_REQUIRE(x.rank() == 2 && x[1] == in_features, "nn::fully_connected_layer",
                       "input [N, " + std::to_string(in_features) + "]", "shape " + x.to_string());
        return {x[0], out_features};
    }

    template <class T>
    void forward(params_in<T> p, core::const_view<T> x, core::view<T> y, context<T>& ctx) const {
        ctx.x = x;
        ctx.y = y;
        ops::fully_connected<T>(x, p[weight_ref], bias_of(p), y, params);
    }
    template <class T>
    void backward(params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::view<T> dx, grads_out<T> g,
                  core::grad_mode data_mode, core::grad_mode param_mode) const {
        ops::fully_connected_backward<T>(ctx.x, p[weight_ref], ctx.y, dy, dx, g[weight_ref], bias_grad(g, param_mode),
                                         data_mode, param_mode, params);
    }
    template <class T>
    void forward_tangent(params_in<T> p, context<T>& ctx, core::const_view<T> x_dot, core::view<T> y_dot) const {
        ctx.x_dot = x_dot;
        ops::fully_connected_forward_tangent<T>(ctx.x, p[weight_ref], ctx.y, x_dot, core::const_view<T>{},
                                                core::const_view<T>{}, y_dot, params);
    }
    template <class T>
    void backward_tangent(params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::const_view<T> dy_dot,
                          core::view<T> dx, core::view<T> dx_dot, grads_out<T> g_dot, core::grad_mode data_mode,
                          core::grad_mode param_mode) const {
        ops::fully_connected_backward<T>(ctx.x, p[weight_ref], ctx.y, dy, dx, core::view<T>{}, core::view<T>{},
                                         data_mode, core::grad_mode::none, params);
        ops::fully_connected_backward_tangent<T>(ctx.x, p[weight_ref], ctx.y, ctx.x_dot, core::const_view<T>{}, dy,
                                                 dy_dot, dx_dot, g_dot[weight_ref], bias_grad(g_dot, param_mode),
                                                 data_mode, param_mode, params);
    }

private:
    template <class T>
    core::const_view<T> bias_of(params_in<T> p) const {
        return bias ? core::const_view<T>(p[bias_ref]) : core::const_view<T>{};
    }
    template <class T>
    core::view<T> bias_grad(grads_out<T> g, core::grad_mode mode) const {
        return bias && mode != core::grad_mode::none ? g[bias_ref] : core::view<T>{};
    }
};

}  // namespace imbdef::nn
