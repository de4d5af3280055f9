#pragma once
// The CPU backend of ops::leaky_relu. Arguments are checked by the front end (ops/leaky_relu.hpp).

#include "../../core/grad_mode.hpp"
#include "../../core/tensor.hpp"
#include "../backend.hpp"
#include "../def/leaky_relu.hpp"
#include "elementwise.hpp"

namespace imbdef::ops {

template <>
struct backend<leaky_relu_op, core::cpu> {
    template <class T>
    static void forward(core::const_view<T, core::cpu> x, core::view<T, core::cpu> y, T slope, T gain) {
        const T* xs = x.data();
        T* ys = y.data();
        detail::for_each_element(x.numel(), [=](core::index_t i) { ys[i] = leaky_relu_op::forward(xs[i], slope, gain); });
    }

    template <class T>
    static void backward(core::const_view<T, core::cpu> x, core::const_view<T, core::cpu> dy,
                         core::view<T, core::cpu> dx, core::grad_mode mode, T slope, T gain) {
        const T* xs = x.data();
        const T* dys = dy.data();
        T* dxs = dx.data();
        detail::for_each_element(x.numel(), [=](core::index_t i) {
            core::store_grad(dxs[i], leaky_relu_op::backward(xs[i], dys[i], slope, gain), mode);
        });
    }
};

}  // namespace imbdef::ops
