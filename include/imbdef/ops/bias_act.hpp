#pragma once
// ops::bias_act: bias + activation + gain + clamp (definition and gradient rules in
// def/bias_act.hpp), its backward from the saved output, and the tangent rules of R1.
//
//   bias_act(x, b, y, p)                                            y = clamp(act(x + b) gain)
//   bias_act_backward(y, dy, dx, db, data_mode, param_mode, p)      dx = dy factor(y), db = sum dx
//   bias_act_forward_tangent(y, x_dot, b_dot, y_dot, p)             y_dot = factor(y) (x_dot + b_dot)
//   bias_act_backward_tangent(y, dy_dot, dx_dot, db_dot, ...)       dx_dot = factor(y) dy_dot, db_dot
//
// Contract:
// - x and y (and dy, dx, x_dot, y_dot, dy_dot, dx_dot) share one shape of rank >= 1; p.axis (in
//   [-rank, rank)) is the channel axis and b, db, b_dot have shape [x.shape[axis]] or are empty
//   (no bias; an empty db under a mode other than none means the bias gradient is not wanted).
// - Elementwise: y may be x itself, dx may be dy itself.
// - Gradients follow core::grad_mode (dx under data_mode, db under param_mode); tangent outputs
//   follow the same modes, y_dot is assigned.
// - p.clamp, when set, is >= 0. Errors name the op, the argument and both shapes.

#include <concepts>
#include <string>
#include <type_traits>

#include "../core/device.hpp"
#include "../core/error.hpp"
#include "../core/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "backend.hpp"
#include "check.hpp"
#include "cpu/bias_act.hpp"
#include "def/bias_act.hpp"

namespace imbdef::ops {

namespace detail {

inline channel_layout bias_act_layout(std::string_view op, const core::shape& s, const bias_act_params& p) {
    IMBDEF_REQUIRE(s.rank() >= 1, std::string(op), "x of rank >= 1", "x of shape " + s.to_string());
    const int axis = p.axis < 0 ? p.axis + s.rank() : p.axis;
    IMBDEF_REQUIRE(axis >= 0 && axis < s.rank(), std::string(op),
                   "a channel axis in [" + std::to_string(-s.rank()) + ", " + std::to_string(s.rank()) + ")",
                   "axis " + std::to_string(p.axis) + " for x of shape " + s.to_string());
    IMBDEF_REQUIRE(!p.clamp || *p.clamp >= 0.0, std::string(op), "clamp >= 0", "clamp " + std::to_string(*p.clamp));
    channel_layout l;
    for (int a = 0; a < axis; ++a) l.outer *= s[a];
    l.channels = s[axis];
    for (int a = axis + 1; a < s.rank(); ++a) l.inner *= s[a];
    return l;
}

inline void require_channel_vector(std::string_view op, std::string_view arg, const core::shape& found,
                                   core::index_t channels) {
    require_shape_of(op, arg, found, "the channel axis of x", core::shape{channels});
}

}  // namespace detail

template <std::floating_point T, core::device_tag Device>
void bias_act(std::type_identity_t<core::const_view<T, Device>> x, std::type_identity_t<core::const_view<T, Device>> b,
              core::view<T, Device> y, const bias_act_params& p = {}) {
    constexpr std::string_view op = "ops::bias_act";
    const channel_layout l = detail::bias_act_layout(op, x.shape(), p);
    if (!b.empty()) detail::require_channel_vector(op, "b", b.shape(), l.channels);
    require_shape_of(op, "y", y.shape(), "x", x.shape());
    if (x.empty()) return;
    backend<bias_act_op, Device>::forward(l, x.data(), b.empty() ? nullptr : b.data(), T(1), y.data(),
                                          bias_act_op::make_rule<T>(p));
}

namespace detail {

template <class T, class Device>
void bias_act_backward_checked(std::string_view op, bool tangent, core::const_view<T, Device> y,
                               core::const_view<T, Device> dy, core::view<T, Device> dx, core::view<T, Device> db,
                               core::grad_mode data_mode, core::grad_mode param_mode, const bias_act_params& p) {
    const channel_layout l = bias_act_layout(op, y.shape(), p);
    require_shape_of(op, tangent ? "dy_dot" : "dy", dy.shape(), "y", y.shape());
    if (data_mode != core::grad_mode::none) require_shape_of(op, tangent ? "dx_dot" : "dx", dx.shape(), "y", y.shape());
    const bool want_db = param_mode != core::grad_mode::none && !db.empty();
    if (want_db) require_channel_vector(op, tangent ? "db_dot" : "db", db.shape(), l.channels);
    if (y.empty()) return;
    backend<bias_act_op, Device>::backward(l, y.data(), dy.data(), dx.data(), want_db ? db.data() : nullptr, T(1),
                                           data_mode, param_mode, bias_act_op::make_rule<T>(p));
}

}  // namespace detail

// From the saved output y of bias_act with the same parameters.
template <std::floating_point T, core::device_tag Device>
void bias_act_backward(std::type_identity_t<core::const_view<T, Device>> y,
                       std::type_identity_t<core::const_view<T, Device>> dy, core::view<T, Device> dx,
                       core::view<T, Device> db, core::grad_mode data_mode, core::grad_mode param_mode,
                       const bias_act_params& p = {}) {
    detail::bias_act_backward_checked<T, Device>("ops::bias_act_backward", false, y, dy, dx, db, data_mode, param_mode, p);
}

// y_dot = factor(y) (x_dot + b_dot); an empty b_dot is a zero tangent.
template <std::floating_point T, core::device_tag Device>
void bias_act_forward_tangent(std::type_identity_t<core::const_view<T, Device>> y,
                              std::type_identity_t<core::const_view<T, Device>> x_dot,
                              std::type_identity_t<core::const_view<T, Device>> b_dot, core::view<T, Device> y_dot,
                              const bias_act_params& p = {}) {
    constexpr std::string_view op = "ops::bias_act_forward_tangent";
    const channel_layout l = detail::bias_act_layout(op, y.shape(), p);
    require_shape_of(op, "x_dot", x_dot.shape(), "y", y.shape());
    if (!b_dot.empty()) detail::require_channel_vector(op, "b_dot", b_dot.shape(), l.channels);
    require_shape_of(op, "y_dot", y_dot.shape(), "y", y.shape());
    if (y.empty()) return;
    backend<bias_act_op, Device>::forward_tangent(l, y.data(), x_dot.data(), b_dot.empty() ? nullptr : b_dot.data(),
                                                  T(1), y_dot.data(), bias_act_op::make_rule<T>(p));
}

// The backward is linear in dy with a mask fixed by y and does not depend on x otherwise, so its
// tangent is the backward applied to dy_dot: dx_dot = factor(y) dy_dot, db_dot = sum dx_dot.
template <std::floating_point T, core::device_tag Device>
void bias_act_backward_tangent(std::type_identity_t<core::const_view<T, Device>> y,
                               std::type_identity_t<core::const_view<T, Device>> dy_dot, core::view<T, Device> dx_dot,
                               core::view<T, Device> db_dot, core::grad_mode data_mode, core::grad_mode param_mode,
                               const bias_act_params& p = {}) {
    detail::bias_act_backward_checked<T, Device>("ops::bias_act_backward_tangent", true, y, dy_dot, dx_dot, db_dot, data_mode,
                                                 param_mode, p);
}

}  // namespace imbdef::ops
