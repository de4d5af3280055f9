#pragma once
// identity: y = x. The default skip branch of residual, and a neutral element for composition.

#include "module.hpp"

namespace imbdef::nn {

struct identity {
    template <class T>
    struct context {};

    void declare(const registry&) {}
    core::shape output_shape(const core::shape& in) const { return in; }

    template <class T>
    void forward(params_in<T>, core::const_view<T> x, core::view<T> y, context<T>&) const {
        core::copy(x, y);
    }

    template <class T>
    void backward(params_in<T>, context<T>&, core::const_view<T> dy, core::view<T> dx, grads_out<T>,
                  core::grad_mode data_mode, core::grad_mode) const {
        if (data_mode == core::grad_mode::none) return;
        for (core::index_t i = 0; i < dx.numel(); ++i) core::store_grad(dx[i], dy[i], data_mode);
    }

    template <class T>
    void forward_tangent(params_in<T>, context<T>&, core::const_view<T> x_dot, core::view<T> y_dot) const {
        core::copy(x_dot, y_dot);
    }

    template <class T>
    void backward_tangent(params_in<T> p, context<T>& ctx, core::const_view<T> dy, core::const_view<T> dy_dot,
                          core::view<T> dx, core::view<T> dx_dot, grads_out<T> g, core::grad_mode data_mode,
                          core::grad_mode param_mode) const {
        backward(p, ctx, dy, dx, g, data_mode, param_mode);
        backward(p, ctx, dy_dot, dx_dot, g, data_mode, param_mode);
    }
};

}  // namespace imbdef::nn
