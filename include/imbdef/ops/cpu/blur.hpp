#pragma once
// The CPU backends of ops::exp2_blur and ops::gaussian_blur: the taps computed into scratch, then
// one separable polyphase stage (cpu/upfirdn2d.hpp) with pad r on every side.

#include "../../core/grad_mode.hpp"
#include "../../core/scratch.hpp"
#include "../../core/tensor.hpp"
#include "../backend.hpp"
#include "../def/blur.hpp"
#include "upfirdn2d.hpp"

namespace imbdef::ops {

namespace detail {

// The blur Op with parameter sigma applied to x (adjoint = forward: symmetric taps and pads).
template <class Op, class T>
void run_blur(core::const_view<T, core::cpu> x, core::view<T, core::cpu> y, double sigma, core::grad_mode mode) {
    core::scratch_scope<> scope;
    const index_t r = Op::radius(sigma);
    T* taps = scope.allocate<T>(core::shape{2 * r + 1}).data();
    double sum = 0.0;
    for (index_t k = -r; k <= r; ++k) sum += Op::tap(k, sigma);
    for (index_t k = -r; k <= r; ++k) taps[k + r] = static_cast<T>(Op::tap(k, sigma) / sum);
    const index_t h = x.size(2), w = x.size(3);
    const upfirdn_axis ax{w, 1, 1, r, r, 2 * r + 1}, ay{h, 1, 1, r, r, 2 * r + 1};
    run_upfirdn2d<T>(x.data(), y.data(), x.size(0) * x.size(1), ax, ay, {taps, 2 * r + 1, 2 * r + 1, true}, false, 1.0,
                     mode);
}

}  // namespace detail

template <>
struct backend<exp2_blur_op, core::cpu> {
    template <class T>
    static void forward(core::const_view<T, core::cpu> x, core::view<T, core::cpu> y, double sigma) {
        detail::run_blur<exp2_blur_op, T>(x, y, sigma, core::grad_mode::assign);
    }
    template <class T>
    static void backward(core::const_view<T, core::cpu> dy, core::view<T, core::cpu> dx, core::grad_mode mode,
                         double sigma) {
        detail::run_blur<exp2_blur_op, T>(dy, dx, sigma, mode);
    }
};

template <>
struct backend<gaussian_blur_op, core::cpu> {
    template <class T>
    static void forward(core::const_view<T, core::cpu> x, core::view<T, core::cpu> y, double sigma) {
        detail::run_blur<gaussian_blur_op, T>(x, y, sigma, core::grad_mode::assign);
    }
    template <class T>
    static void backward(core::const_view<T, core::cpu> dy, core::view<T, core::cpu> dx, core::grad_mode mode,
                         double sigma) {
        detail::run_blur<gaussian_blur_op, T>(dy, dx, sigma, mode);
    }
};

}  // namespace imbdef::ops
