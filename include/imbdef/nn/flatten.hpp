#pragma once
// flatten: [N, C, H, W] (or any rank >= 2) -> [N, C*H*W] in (c, h, w) order, the epilogue's step
// from the last feature map to the fully connected layers. A pure relabelling: every gradient and
// tangent passes through unchanged.

#include "../core/parallel.hpp"
#include "module.hpp"

namespace imbdef::nn {

struct flatten {
    template <class T>
    struct context {};

    void declare(const registry&) {}
    core::shape output_shape(const core::shape& x) const {
        IMBDEF_REQUIRE(x.rank() >= 2, "nn::flatten", "an input of rank >= 2", "shape " + x.to_string());
        return {x[0], x.numel() / std::max<core::index_t>(x[0], 1)};
    }

    template <class T>
    void forward(params_in<T>, core::const_view<T> x, core::view<T> y, context<T>&) const {
        core::copy(x.reshaped(y.shape()), y);
    }
    template <class T>
    void backward(params_in<T>, context<T>&, core::const_view<T> dy, core::view<T> dx, grads_out<T>,
                  core::grad_mode data_mode, core::grad_mode) const {
        pass(dy, dx, data_mode);
    }
    template <class T>
    void forward_tangent(params_in<T>, context<T>&, core::const_view<T> x_dot, core::view<T> y_dot) const {
        core::copy(x_dot.reshaped(y_dot.shape()), y_dot);
    }
    template <class T>
    void backward_tangent(params_in<T>, context<T>&, core::const_view<T> dy, core::const_view<T> dy_dot,
                          core::view<T> dx, core::view<T> dx_dot, grads_out<T>, core::grad_mode data_mode,
                          core::grad_mode) const {
        pass(dy, dx, data_mode);
        pass(dy_dot, dx_dot, data_mode);
    }

private:
    template <class T>
    static void pass(core::const_view<T> dy, core::view<T> dx, core::grad_mode mode) {
        if (mode == core::grad_mode::none) return;
        for (core::index_t i = 0; i < dx.numel(); ++i) core::store_grad(dx[i], dy[i], mode);
    }
};

}  // namespace imbdef::nn
