#pragma once
// ops::exp2_blur, ops::gaussian_blur and their backward passes on any device (definitions in
// def/blur.hpp).
//
// Contract:
// - x is NCHW [N, C, H, W]; y (dy, dx) have its shape; sigma > 0 and finite. Bad arguments throw
//   imbdef::error naming the op, the argument and both values.
// - *_backward(dy, dx, mode, sigma) writes the adjoint (the same blur) under mode; under
//   grad_mode::none it returns at once and dx may be empty.
// - Tangent rules (R1; the exp2 blur runs on D's input in config R): linear, so the tangent of
//   forward is the blur of x_dot and the tangent of backward the blur of dy_dot.
// - Outputs must not alias inputs.
// T and Device are deduced from the output view; inputs accept tensors, views and const views.

#include <cmath>
#include <concepts>
#include <string>
#include <type_traits>

#include "../core/device.hpp"
#include "../core/error.hpp"
#include "../core/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "backend.hpp"
#include "check.hpp"
#include "check_image.hpp"
#include "cpu/blur.hpp"
#include "def/blur.hpp"

namespace imbdef::ops {

namespace detail {

template <class Op, class T, class Device>
void blur_forward(core::const_view<T, Device> x, core::view<T, Device> y, double sigma) {
    const std::string op(Op::name);
    check_nchw(op, "x", x.shape());
    IMBDEF_REQUIRE(sigma > 0.0 && std::isfinite(sigma), op, "sigma > 0", "sigma " + std::to_string(sigma));
    require_shape_of(op, "y", y.shape(), "x", x.shape());
    if (x.empty()) return;
    backend<Op, Device>::forward(x, y, sigma);
}

template <class Op, class T, class Device>
void blur_backward(core::const_view<T, Device> dy, core::view<T, Device> dx, core::grad_mode mode, double sigma) {
    const std::string op = std::string(Op::name) + "_backward";
    IMBDEF_REQUIRE(sigma > 0.0 && std::isfinite(sigma), op, "sigma > 0", "sigma " + std::to_string(sigma));
    if (mode == core::grad_mode::none) return;
    check_nchw(op, "dx", dx.shape());
    require_shape_of(op, "dy", dy.shape(), "dx", dx.shape());
    if (dx.empty()) return;
    backend<Op, Device>::backward(dy, dx, mode, sigma);
}

}  // namespace detail

template <std::floating_point T, core::device_tag Device>
void exp2_blur(std::type_identity_t<core::const_view<T, Device>> x, core::view<T, Device> y, double sigma) {
    detail::blur_forward<exp2_blur_op, T, Device>(x, y, sigma);
}

template <std::floating_point T, core::device_tag Device>
void exp2_blur_backward(std::type_identity_t<core::const_view<T, Device>> dy, core::view<T, Device> dx,
                        core::grad_mode mode, double sigma) {
    detail::blur_backward<exp2_blur_op, T, Device>(dy, dx, mode, sigma);
}

template <std::floating_point T, core::device_tag Device>
void gaussian_blur(std::type_identity_t<core::const_view<T, Device>> x, core::view<T, Device> y, double sigma) {
    detail::blur_forward<gaussian_blur_op, T, Device>(x, y, sigma);
}

template <std::floating_point T, core::device_tag Device>
void gaussian_blur_backward(std::type_identity_t<core::const_view<T, Device>> dy, core::view<T, Device> dx,
                            core::grad_mode mode, double sigma) {
    detail::blur_backward<gaussian_blur_op, T, Device>(dy, dx, mode, sigma);
}

}  // namespace imbdef::ops
