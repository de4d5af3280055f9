#pragma once
// ops::binomial_lowpass and ops::binomial_lowpass_backward on any device (definition in
// def/binomial_lowpass.hpp).
//
// Contract:
// - x is NCHW [N, C, H, W] and y (dy, dx) have its shape; mismatches throw imbdef::error naming
//   the op, the argument and both shapes.
// - binomial_lowpass_backward(dy, dx, mode) writes the adjoint under mode; under grad_mode::none it
//   returns at once and dx may be empty.
// - Tangent rules (R1): linear, so the tangent of forward is binomial_lowpass(x_dot) and the
//   tangent of backward is binomial_lowpass_backward(dy_dot).
// - Outputs must not alias inputs.
// T and Device are deduced from the output view; inputs accept tensors, views and const views.

#include <concepts>
#include <type_traits>

#include "../core/device.hpp"
#include "../core/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "backend.hpp"
#include "check.hpp"
#include "check_image.hpp"
#include "cpu/binomial_lowpass.hpp"
#include "def/binomial_lowpass.hpp"

namespace imbdef::ops {

template <std::floating_point T, core::device_tag Device>
void binomial_lowpass(std::type_identity_t<core::const_view<T, Device>> x, core::view<T, Device> y,
                      const binomial_lowpass_params& params = {}) {
    constexpr const char* op = "ops::binomial_lowpass";
    detail::check_nchw(op, "x", x.shape());
    require_shape_of(op, "y", y.shape(), "x", x.shape());
    if (x.empty()) return;
    backend<binomial_lowpass_op, Device>::forward(x, y, params);
}

template <std::floating_point T, core::device_tag Device>
void binomial_lowpass_backward(std::type_identity_t<core::const_view<T, Device>> dy, core::view<T, Device> dx,
                               core::grad_mode mode, const binomial_lowpass_params& params = {}) {
    constexpr const char* op = "ops::binomial_lowpass_backward";
    if (mode == core::grad_mode::none) return;
    detail::check_nchw(op, "dx", dx.shape());
    require_shape_of(op, "dy", dy.shape(), "dx", dx.shape());
    if (dx.empty()) return;
    backend<binomial_lowpass_op, Device>::backward(dy, dx, mode, params);
}

}  // namespace imbdef::ops
