#pragma once
// Elementwise arithmetic on tensors of one shape, with backward passes (rules and tangents in
// def/arithmetic.hpp):
//
//   add(a, b, y)              y = a + b
//   sub(a, b, y)              y = a - b
//   mul(a, b, y)              y = a b
//   scale(x, alpha, y)        y = alpha x
//   axpby(alpha, a, beta, b, y)   y = alpha a + beta b
//   lerp(a, b, t, y)          y = a + t (b - a)
//
// Contract:
// - Every operand has the shape of the first one (no broadcasting), else imbdef::error naming the
//   op, the argument and both shapes. Scalars are given in double and rounded to T.
// - Forward: y may alias a or b (or x).
// - Backward: each input gradient follows its own mode (a gradient under none is not checked and
//   may be empty). Gradient buffers must not overlap dy, the other inputs, or each other.
// - Tangents (R1): add, sub, scale, axpby and lerp are linear, so their tangent rules are the ops
//   themselves on the tangents; mul is bilinear and has mul_forward_tangent and
//   mul_backward_tangent.
// T and Device are deduced from the output view; inputs accept tensors, views and const views.

#include <concepts>
#include <string_view>
#include <type_traits>

#include "../core/device.hpp"
#include "../core/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "backend.hpp"
#include "check.hpp"
#include "cpu/map.hpp"
#include "def/arithmetic.hpp"
#include "def/map.hpp"

namespace imbdef::ops {

namespace detail {

template <class T, class Device>
using arithmetic_input = std::type_identity_t<core::const_view<T, Device>>;

// Writes fn(in...) into g under mode, after checking g's shape (not under none).
template <class Fn, class T, class Device, class... In>
void map_grad_checked(std::string_view op, std::string_view name, Fn fn, core::view<T, Device> g,
                      core::grad_mode mode, const core::shape& expected, std::string_view ref,
                      core::const_view<In, Device>... in) {
    if (mode == core::grad_mode::none) return;
    require_shape_of(op, name, g.shape(), ref, expected);
    if (g.empty()) return;
    backend<map_op, Device>::map_grad(fn, g, mode, in...);
}

}  // namespace detail

template <std::floating_point T, core::device_tag Device>
void add(detail::arithmetic_input<T, Device> a, detail::arithmetic_input<T, Device> b, core::view<T, Device> y) {
    require_shape_of("ops::add", "b", b.shape(), "a", a.shape());
    require_shape_of("ops::add", "y", y.shape(), "a", a.shape());
    if (y.empty()) return;
    backend<map_op, Device>::map(map_fn::add{}, y, a, b);
}

template <std::floating_point T, core::device_tag Device>
void sub(detail::arithmetic_input<T, Device> a, detail::arithmetic_input<T, Device> b, core::view<T, Device> y) {
    require_shape_of("ops::sub", "b", b.shape(), "a", a.shape());
    require_shape_of("ops::sub", "y", y.shape(), "a", a.shape());
    if (y.empty()) return;
    backend<map_op, Device>::map(map_fn::sub{}, y, a, b);
}

template <std::floating_point T, core::device_tag Device>
void mul(detail::arithmetic_input<T, Device> a, detail::arithmetic_input<T, Device> b, core::view<T, Device> y) {
    require_shape_of("ops::mul", "b", b.shape(), "a", a.shape());
    require_shape_of("ops::mul", "y", y.shape(), "a", a.shape());
    if (y.empty()) return;
    backend<map_op, Device>::map(map_fn::mul{}, y, a, b);
}

template <std::floating_point T, core::device_tag Device>
void scale(detail::arithmetic_input<T, Device> x, double alpha, core::view<T, Device> y) {
    require_shape_of("ops::scale", "y", y.shape(), "x", x.shape());
    if (y.empty()) return;
    backend<map_op, Device>::map(map_fn::scale<T>{static_cast<T>(alpha)}, y, x);
}

template <std::floating_point T, core::device_tag Device>
void axpby(double alpha, detail::arithmetic_input<T, Device> a, double beta, detail::arithmetic_input<T, Device> b, core::view<T, Device> y) {
    require_shape_of("ops::axpby", "b", b.shape(), "a", a.shape());
    require_shape_of("ops::axpby", "y", y.shape(), "a", a.shape());
    if (y.empty()) return;
    backend<map_op, Device>::map(map_fn::axpby<T>{static_cast<T>(alpha), static_cast<T>(beta)}, y, a, b);
}

template <std::floating_point T, core::device_tag Device>
void lerp(detail::arithmetic_input<T, Device> a, detail::arithmetic_input<T, Device> b, double t, core::view<T, Device> y) {
    require_shape_of("ops::lerp", "b", b.shape(), "a", a.shape());
    require_shape_of("ops::lerp", "y", y.shape(), "a", a.shape());
    if (y.empty()) return;
    backend<map_op, Device>::map(map_fn::lerp<T>{static_cast<T>(t)}, y, a, b);
}

// da = dy, db = dy.
template <std::floating_point T, core::device_tag Device>
void add_backward(detail::arithmetic_input<T, Device> dy, core::view<T, Device> da, core::grad_mode mode_a,
                  core::view<T, Device> db, core::grad_mode mode_b) {
    detail::map_grad_checked("ops::add_backward", "da", map_fn::identity{}, da, mode_a, dy.shape(), "dy", dy);
    detail::map_grad_checked("ops::add_backward", "db", map_fn::identity{}, db, mode_b, dy.shape(), "dy", dy);
}

// da = dy, db = -dy.
template <std::floating_point T, core::device_tag Device>
void sub_backward(detail::arithmetic_input<T, Device> dy, core::view<T, Device> da, core::grad_mode mode_a,
                  core::view<T, Device> db, core::grad_mode mode_b) {
    detail::map_grad_checked("ops::sub_backward", "da", map_fn::identity{}, da, mode_a, dy.shape(), "dy", dy);
    detail::map_grad_checked("ops::sub_backward", "db", map_fn::negate{}, db, mode_b, dy.shape(), "dy", dy);
}

// da = dy b, db = dy a.
template <std::floating_point T, core::device_tag Device>
void mul_backward(detail::arithmetic_input<T, Device> a, detail::arithmetic_input<T, Device> b, detail::arithmetic_input<T, Device> dy,
                  core::view<T, Device> da, core::grad_mode mode_a, core::view<T, Device> db,
                  core::grad_mode mode_b) {
    require_shape_of("ops::mul_backward", "b", b.shape(), "a", a.shape());
    require_shape_of("ops::mul_backward", "dy", dy.shape(), "a", a.shape());
    detail::map_grad_checked("ops::mul_backward", "da", map_fn::mul{}, da, mode_a, a.shape(), "a", dy, b);
    detail::map_grad_checked("ops::mul_backward", "db", map_fn::mul{}, db, mode_b, a.shape(), "a", dy, a);
}

// dx = alpha dy.
template <std::floating_point T, core::device_tag Device>
void scale_backward(detail::arithmetic_input<T, Device> dy, double alpha, core::view<T, Device> dx, core::grad_mode mode) {
    detail::map_grad_checked("ops::scale_backward", "dx", map_fn::scale<T>{static_cast<T>(alpha)}, dx, mode, dy.shape(),
                             "dy", dy);
}

// da = alpha dy, db = beta dy.
template <std::floating_point T, core::device_tag Device>
void axpby_backward(double alpha, double beta, detail::arithmetic_input<T, Device> dy, core::view<T, Device> da,
                    core::grad_mode mode_a, core::view<T, Device> db, core::grad_mode mode_b) {
    detail::map_grad_checked("ops::axpby_backward", "da", map_fn::scale<T>{static_cast<T>(alpha)}, da, mode_a,
                             dy.shape(), "dy", dy);
    detail::map_grad_checked("ops::axpby_backward", "db", map_fn::scale<T>{static_cast<T>(beta)}, db, mode_b,
                             dy.shape(), "dy", dy);
}

// da = (1 - t) dy, db = t dy.
template <std::floating_point T, core::device_tag Device>
void lerp_backward(double t, detail::arithmetic_input<T, Device> dy, core::view<T, Device> da, core::grad_mode mode_a,
                   core::view<T, Device> db, core::grad_mode mode_b) {
    detail::map_grad_checked("ops::lerp_backward", "da", map_fn::scale<T>{static_cast<T>(1.0 - t)}, da, mode_a,
                             dy.shape(), "dy", dy);
    detail::map_grad_checked("ops::lerp_backward", "db", map_fn::scale<T>{static_cast<T>(t)}, db, mode_b, dy.shape(),
                             "dy", dy);
}

// y_dot = a_dot b + a b_dot.
template <std::floating_point T, core::device_tag Device>
void mul_forward_tangent(detail::arithmetic_input<T, Device> a, detail::arithmetic_input<T, Device> b, detail::arithmetic_input<T, Device> a_dot,
                         detail::arithmetic_input<T, Device> b_dot, core::view<T, Device> y_dot) {
    constexpr std::string_view op = "ops::mul_forward_tangent";
    require_shape_of(op, "b", b.shape(), "a", a.shape());
    require_shape_of(op, "a_dot", a_dot.shape(), "a", a.shape());
    require_shape_of(op, "b_dot", b_dot.shape(), "a", a.shape());
    require_shape_of(op, "y_dot", y_dot.shape(), "a", a.shape());
    if (y_dot.empty()) return;
    backend<map_op, Device>::map(map_fn::dot2{}, y_dot, a_dot, b, a, b_dot);
}

// da_dot = dy_dot b + dy b_dot and db_dot = dy_dot a + dy a_dot, each under its mode (the
// tangents of mul_backward's da and db along (a_dot, b_dot, dy_dot)).
template <std::floating_point T, core::device_tag Device>
void mul_backward_tangent(detail::arithmetic_input<T, Device> a, detail::arithmetic_input<T, Device> b, detail::arithmetic_input<T, Device> a_dot,
                          detail::arithmetic_input<T, Device> b_dot, detail::arithmetic_input<T, Device> dy, detail::arithmetic_input<T, Device> dy_dot,
                          core::view<T, Device> da_dot, core::grad_mode mode_a, core::view<T, Device> db_dot,
                          core::grad_mode mode_b) {
    constexpr std::string_view op = "ops::mul_backward_tangent";
    require_shape_of(op, "b", b.shape(), "a", a.shape());
    require_shape_of(op, "a_dot", a_dot.shape(), "a", a.shape());
    require_shape_of(op, "b_dot", b_dot.shape(), "a", a.shape());
    require_shape_of(op, "dy", dy.shape(), "a", a.shape());
    require_shape_of(op, "dy_dot", dy_dot.shape(), "a", a.shape());
    detail::map_grad_checked(op, "da_dot", map_fn::dot2{}, da_dot, mode_a, a.shape(), "a", dy_dot, b, dy, b_dot);
    detail::map_grad_checked(op, "db_dot", map_fn::dot2{}, db_dot, mode_b, a.shape(), "a", dy_dot, a, dy, a_dot);
}

}  // namespace imbdef::ops
