#pragma once
// normalize_layer: z * rsqrt(mean(z^2) + 1e-8) per sample (ops/normalize_2nd_moment.hpp), the
// first step of the mapping network; no parameters.

#include "../ops/normalize_2nd_moment.hpp"
#include "module.hpp"

namespace imbdef::nn {

struct normalize_layer {
    template <class T>
    struct context {
        core::const_view<T> x;
    };

    void declare(const registry&) {}
    core::shape output_shape(const core::shape& x) const { return x; }

    template <class T>
    void forward(params_in<T>, core::const_view<T> x, core::view<T> y, context<T>& ctx) const {
        ctx.x = x;
        ops::normalize_2nd_moment<T>(x, y);
    }
    template <class T>
    void backward(params_in<T>, context<T>& ctx, core::const_view<T> dy, core::view<T> dx, grads_out<T>,
                  core::grad_mode data_mode, core::grad_mode) const {
        ops::normalize_2nd_moment_backward<T>(ctx.x, dy, dx, data_mode);
    }
};

}  // namespace imbdef::nn
