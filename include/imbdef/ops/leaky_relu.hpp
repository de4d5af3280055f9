#pragma once
// ops::leaky_relu and ops::leaky_relu_backward on any device (rules in def/leaky_relu.hpp), and
// the tangent rules of R1: ops::leaky_relu_forward_tangent and ops::leaky_relu_backward_tangent.
//
// Contract:
// - x, y (and dy, dx) have equal shapes, else imbdef::error naming the op, argument and shapes;
//   under grad_mode::none, dx is not checked and may be empty.
// - Elementwise: y may be x itself, dx may be x or dy.
// - On core::cuda (needs <imbdef/cuda.hpp> in a .cu file) the work is queued on the default
//   stream and the call returns before it finishes; a copy to the CPU waits for it.
// T and Device are deduced from the output view; inputs accept tensors, views and const views.

#include <concepts>
#include <type_traits>

#include "../core/device.hpp"
#include "../core/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "backend.hpp"
#include "check.hpp"
#include "cpu/leaky_relu.hpp"
#include "def/leaky_relu.hpp"

namespace imbdef::ops {

template <std::floating_point T, core::device_tag Device>
void leaky_relu(std::type_identity_t<core::const_view<T, Device>> x, core::view<T, Device> y,
                const leaky_relu_params& params = {}) {
    require_shape_of("ops::leaky_relu", "y", y.shape(), "x", x.shape());
    if (x.empty()) return;
    backend<leaky_relu_op, Device>::forward(x, y, static_cast<T>(params.slope), static_cast<T>(params.gain));
}

// dx (under `mode`) = dy * gain * (x >= 0 ? 1 : slope).
template <std::floating_point T, core::device_tag Device>
void leaky_relu_backward(std::type_identity_t<core::const_view<T, Device>> x,
                         std::type_identity_t<core::const_view<T, Device>> dy, core::view<T, Device> dx,
                         core::grad_mode mode, const leaky_relu_params& params = {}) {
    require_shape_of("ops::leaky_relu_backward", "dy", dy.shape(), "x", x.shape());
    if (mode == core::grad_mode::none) return;
    require_shape_of("ops::leaky_relu_backward", "dx", dx.shape(), "x", x.shape());
    if (x.empty()) return;
    backend<leaky_relu_op, Device>::backward(x, dy, dx, mode, static_cast<T>(params.slope),
                                             static_cast<T>(params.gain));
}

// y_dot = gain * (x >= 0 ? 1 : slope) * x_dot: the derivative's factor, fixed by the sign of x,
// applied to the tangent. It is backward's rule with dy = x_dot, so every device that has
// backward has this too.
template <std::floating_point T, core::device_tag Device>
void leaky_relu_forward_tangent(std::type_identity_t<core::const_view<T, Device>> x,
                                std::type_identity_t<core::const_view<T, Device>> x_dot, core::view<T, Device> y_dot,
                                const leaky_relu_params& params = {}) {
    require_shape_of("ops::leaky_relu_forward_tangent", "x_dot", x_dot.shape(), "x", x.shape());
    require_shape_of("ops::leaky_relu_forward_tangent", "y_dot", y_dot.shape(), "x", x.shape());
    if (x.empty()) return;
    backend<leaky_relu_op, Device>::backward(x, x_dot, y_dot, core::grad_mode::assign, static_cast<T>(params.slope),
                                             static_cast<T>(params.gain));
}

// dx_dot (under `mode`) = dy_dot * gain * (x >= 0 ? 1 : slope). The factor is piecewise constant
// in x, so x_dot contributes nothing (away from the kink) and is not an argument.
template <std::floating_point T, core::device_tag Device>
void leaky_relu_backward_tangent(std::type_identity_t<core::const_view<T, Device>> x,
                                 std::type_identity_t<core::const_view<T, Device>> dy_dot,
                                 core::view<T, Device> dx_dot, core::grad_mode mode,
                                 const leaky_relu_params& params = {}) {
    require_shape_of("ops::leaky_relu_backward_tangent", "dy_dot", dy_dot.shape(), "x", x.shape());
    if (mode == core::grad_mode::none) return;
    require_shape_of("ops::leaky_relu_backward_tangent", "dx_dot", dx_dot.shape(), "x", x.shape());
    if (x.empty()) return;
    backend<leaky_relu_op, Device>::backward(x, dy_dot, dx_dot, mode, static_cast<T>(params.slope),
                                             static_cast<T>(params.gain));
}

}  // namespace imbdef::ops
