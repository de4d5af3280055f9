#pragma once
// ops::softplus: y = log(1 + e^x), numerically stable for large |x| (rules in def/softplus.hpp),
// with its backward and the tangent rules of R1 (softplus is on the discriminator's loss path).
//
//   softplus(x, y)                                      y = log(1 + e^x)
//   softplus_backward(x, dy, dx, mode)                  dx = dy sigma(x)
//   softplus_forward_tangent(x, x_dot, y_dot)           y_dot = sigma(x) x_dot
//   softplus_backward_tangent(x, x_dot, dy, dy_dot, dx_dot, mode)
//                                                       dx_dot = sigma(x) (dy_dot + dy (1 - sigma(x)) x_dot)
//
// Every operand has x's shape, else imbdef::error naming the op, the argument and both shapes.
// Elementwise: outputs may alias inputs. Under grad_mode::none the output is not checked and may
// be empty. StyleGAN's losses softplus(-D) and softplus(D) are ops::scale by -1 then softplus.

#include <concepts>
#include <string_view>
#include <type_traits>

#include "../core/device.hpp"
#include "../core/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "backend.hpp"
#include "check.hpp"
#include "cpu/map.hpp"
#include "def/map.hpp"
#include "def/softplus.hpp"

namespace imbdef::ops {

template <std::floating_point T, core::device_tag Device>
void softplus(std::type_identity_t<core::const_view<T, Device>> x, core::view<T, Device> y) {
    require_shape_of("ops::softplus", "y", y.shape(), "x", x.shape());
    if (y.empty()) return;
    backend<map_op, Device>::map(map_fn::softplus{}, y, x);
}

template <std::floating_point T, core::device_tag Device>
void softplus_backward(std::type_identity_t<core::const_view<T, Device>> x,
                       std::type_identity_t<core::const_view<T, Device>> dy, core::view<T, Device> dx,
                       core::grad_mode mode) {
    constexpr std::string_view op = "ops::softplus_backward";
    require_shape_of(op, "dy", dy.shape(), "x", x.shape());
    if (mode == core::grad_mode::none) return;
    require_shape_of(op, "dx", dx.shape(), "x", x.shape());
    if (dx.empty()) return;
    backend<map_op, Device>::map_grad(map_fn::softplus_backward{}, dx, mode, x, dy);
}

template <std::floating_point T, core::device_tag Device>
void softplus_forward_tangent(std::type_identity_t<core::const_view<T, Device>> x,
                              std::type_identity_t<core::const_view<T, Device>> x_dot, core::view<T, Device> y_dot) {
    constexpr std::string_view op = "ops::softplus_forward_tangent";
    require_shape_of(op, "x_dot", x_dot.shape(), "x", x.shape());
    require_shape_of(op, "y_dot", y_dot.shape(), "x", x.shape());
    if (y_dot.empty()) return;
    backend<map_op, Device>::map(map_fn::softplus_backward{}, y_dot, x, x_dot);
}

template <std::floating_point T, core::device_tag Device>
void softplus_backward_tangent(std::type_identity_t<core::const_view<T, Device>> x,
                               std::type_identity_t<core::const_view<T, Device>> x_dot,
                               std::type_identity_t<core::const_view<T, Device>> dy,
                               std::type_identity_t<core::const_view<T, Device>> dy_dot, core::view<T, Device> dx_dot,
                               core::grad_mode mode) {
    constexpr std::string_view op = "ops::softplus_backward_tangent";
    require_shape_of(op, "x_dot", x_dot.shape(), "x", x.shape());
    require_shape_of(op, "dy", dy.shape(), "x", x.shape());
    require_shape_of(op, "dy_dot", dy_dot.shape(), "x", x.shape());
    if (mode == core::grad_mode::none) return;
    require_shape_of(op, "dx_dot", dx_dot.shape(), "x", x.shape());
    if (dx_dot.empty()) return;
    backend<map_op, Device>::map_grad(map_fn::softplus_backward_tangent{}, dx_dot, mode, x, x_dot, dy, dy_dot);
}

}  // namespace imbdef::ops
