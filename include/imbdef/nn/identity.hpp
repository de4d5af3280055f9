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
};

}  // namespace imbdef::nn
