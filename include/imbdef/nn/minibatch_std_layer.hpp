#pragma once
// minibatch_std_layer: the discriminator epilogue's minibatch standard deviation
// (ops/minibatch_std.hpp) as a module without parameters. It is the one genuinely non-linear op of
// the discriminator's second-order path: its backward tangent carries the statistic's curvature.

#include "../ops/minibatch_std.hpp"
#include "module.hpp"

namespace imbdef::nn {

struct minibatch_std_layer {
    ops::minibatch_std_params params{};

    template <class T>
    struct context {
        core::const_view<T> x, x_dot;
    };

    void declare(const registry&) {}
    core::shape output_shape(const core::shape& x) const { return ops::minibatch_std_output_shape(x, params); }

    template <class T>
    void forward(params_in<T>, core::const_view<T> x, core::view<T> y, context<T>& ctx) const {
        ctx.x = x;
        ops::minibatch_std<T>(x, y, params);
    }
    template <class T>
    void backward(params_in<T>, context<T>& ctx, core::const_view<T> dy, core::view<T> dx, grads_out<T>,
                  core::grad_mode data_mode, core::grad_mode) const {
        ops::minibatch_std_backward<T>(ctx.x, dy, dx, data_mode, params);
    }
    template <class T>
    void forward_tangent(params_in<T>, context<T>& ctx, core::const_view<T> x_dot, core::view<T> y_dot) const {
        ctx.x_dot = x_dot;
        ops::minibatch_std_forward_tangent<T>(ctx.x, x_dot, y_dot, params);
    }
    template <class T>
    void backward_tangent(params_in<T>, context<T>& ctx, core::const_view<T> dy, core::const_view<T> dy_dot,
                          core::view<T> dx, core::view<T> dx_dot, grads_out<T>, core::grad_mode data_mode,
                          core::grad_mode) const {
        ops::minibatch_std_backward<T>(ctx.x, dy, dx, data_mode, params);
        ops::minibatch_std_backward_tangent<T>(ctx.x, ctx.x_dot, dy, dy_dot, dx_dot, data_mode, params);
    }
};

}  // namespace imbdef::nn
