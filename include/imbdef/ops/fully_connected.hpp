#pragma once
// ops::fully_connected: the equalised-learning-rate linear layer with a fused bias_act
// (definition, gradients and tangents in def/fully_connected.hpp).
//
//   fully_connected(x, w, b, y, p)
//   fully_connected_backward(x, w, y, dy, dx, dw, db, data_mode, param_mode, p)
//   fully_connected_forward_tangent(x, w, y, x_dot, w_dot, b_dot, y_dot, p)
//   fully_connected_backward_tangent(x, w, y, x_dot, w_dot, dy, dy_dot, dx_dot, dw_dot, db_dot,
//                                    data_mode, param_mode, p)
//
// Contract:
// - x [N, in] (in >= 1), w [out, in], b [out] or empty (no bias), y [N, out]. The backward and the
//   tangents take the forward's output y (the activation's mask is read from it).
// - dx (dx_dot) follows data_mode, dw and db (dw_dot, db_dot) follow param_mode; an empty db with
//   param_mode other than none means the layer has no bias. Empty w_dot / b_dot are zero tangents.
// - Outputs must not alias inputs. Errors name the op, the argument and both shapes.

#include <concepts>
#include <string>
#include <type_traits>

#include "../core/device.hpp"
#include "../core/error.hpp"
#include "../core/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "backend.hpp"
#include "bias_act.hpp"
#include "check.hpp"
#include "cpu/fully_connected.hpp"
#include "def/fully_connected.hpp"

namespace imbdef::ops {

namespace detail {

template <class T>
fc_shape<T> fc_checked(std::string_view op, const core::shape& x, const core::shape& w, const fully_connected_params& p) {
    IMBDEF_REQUIRE(x.rank() == 2 && x[1] >= 1, std::string(op), "x of shape [N, in] with in >= 1",
                   "x of shape " + x.to_string());
    IMBDEF_REQUIRE(w.rank() == 2 && w[1] == x[1], std::string(op),
                   "w of shape [out, " + std::to_string(x[1]) + "] (in of x of shape " + x.to_string() + ")",
                   "w of shape " + w.to_string());
    IMBDEF_REQUIRE(!p.clamp || *p.clamp >= 0.0, std::string(op), "clamp >= 0", "clamp " + std::to_string(*p.clamp));
    return {x[0],
            x[1],
            w[0],
            static_cast<T>(p.weight_gain(x[1])),
            static_cast<T>(p.bias_gain()),
            bias_act_op::make_rule<T>(p.activation_params()),
            p.identity_activation()};
}

inline void require_fc_bias(std::string_view op, std::string_view arg, const core::shape& b, core::index_t out) {
    require_shape_of(op, arg, b, "the rows of w", core::shape{out});
}

}  // namespace detail

template <std::floating_point T, core::device_tag Device>
void fully_connected(std::type_identity_t<core::const_view<T, Device>> x,
                     std::type_identity_t<core::const_view<T, Device>> w,
                     std::type_identity_t<core::const_view<T, Device>> b, core::view<T, Device> y,
                     const fully_connected_params& p = {}) {
    constexpr std::string_view op = "ops::fully_connected";
    const auto s = detail::fc_checked<T>(op, x.shape(), w.shape(), p);
    if (!b.empty()) detail::require_fc_bias(op, "b", b.shape(), s.out);
    require_shape_of(op, "y", y.shape(), "x w^T", core::shape{s.n, s.out});
    if (y.empty()) return;
    backend<fully_connected_op, Device>::forward(s, x.data(), w.data(), b.empty() ? nullptr : b.data(), y.data());
}

template <std::floating_point T, core::device_tag Device>
void fully_connected_backward(std::type_identity_t<core::const_view<T, Device>> x,
                              std::type_identity_t<core::const_view<T, Device>> w,
                              std::type_identity_t<core::const_view<T, Device>> y,
                              std::type_identity_t<core::const_view<T, Device>> dy, core::view<T, Device> dx,
                              core::view<T, Device> dw, core::view<T, Device> db, core::grad_mode data_mode,
                              core::grad_mode param_mode, const fully_connected_params& p = {}) {
    constexpr std::string_view op = "ops::fully_connected_backward";
    const auto s = detail::fc_checked<T>(op, x.shape(), w.shape(), p);
    const core::shape ys{s.n, s.out};
    require_shape_of(op, "y", y.shape(), "x w^T", ys);
    require_shape_of(op, "dy", dy.shape(), "x w^T", ys);
    if (data_mode != core::grad_mode::none) require_shape_of(op, "dx", dx.shape(), "x", x.shape());
    const bool has_db = param_mode != core::grad_mode::none && !db.empty();
    if (param_mode != core::grad_mode::none) require_shape_of(op, "dw", dw.shape(), "w", w.shape());
    if (has_db) detail::require_fc_bias(op, "db", db.shape(), s.out);
    if (data_mode == core::grad_mode::none && param_mode == core::grad_mode::none) return;
    backend<fully_connected_op, Device>::backward(s, x.data(), w.data(), y.data(), dy.data(), dx.data(), dw.data(),
                                                  has_db ? db.data() : nullptr, data_mode, param_mode);
}

template <std::floating_point T, core::device_tag Device>
void fully_connected_forward_tangent(std::type_identity_t<core::const_view<T, Device>> x,
                                     std::type_identity_t<core::const_view<T, Device>> w,
                                     std::type_identity_t<core::const_view<T, Device>> y,
                                     std::type_identity_t<core::const_view<T, Device>> x_dot,
                                     std::type_identity_t<core::const_view<T, Device>> w_dot,
                                     std::type_identity_t<core::const_view<T, Device>> b_dot,
                                     core::view<T, Device> y_dot, const fully_connected_params& p = {}) {
    constexpr std::string_view op = "ops::fully_connected_forward_tangent";
    const auto s = detail::fc_checked<T>(op, x.shape(), w.shape(), p);
    const core::shape ys{s.n, s.out};
    require_shape_of(op, "y", y.shape(), "x w^T", ys);
    require_shape_of(op, "x_dot", x_dot.shape(), "x", x.shape());
    if (!w_dot.empty()) require_shape_of(op, "w_dot", w_dot.shape(), "w", w.shape());
    if (!b_dot.empty()) detail::require_fc_bias(op, "b_dot", b_dot.shape(), s.out);
    require_shape_of(op, "y_dot", y_dot.shape(), "x w^T", ys);
    if (y.empty()) return;
    backend<fully_connected_op, Device>::forward_tangent(s, x.data(), w.data(), y.data(), x_dot.data(),
                                                         w_dot.empty() ? nullptr : w_dot.data(),
                                                         b_dot.empty() ? nullptr : b_dot.data(), y_dot.data());
}

template <std::floating_point T, core::device_tag Device>
void fully_connected_backward_tangent(
    std::type_identity_t<core::const_view<T, Device>> x, std::type_identity_t<core::const_view<T, Device>> w,
    std::type_identity_t<core::const_view<T, Device>> y, std::type_identity_t<core::const_view<T, Device>> x_dot,
    std::type_identity_t<core::const_view<T, Device>> w_dot, std::type_identity_t<core::const_view<T, Device>> dy,
    std::type_identity_t<core::const_view<T, Device>> dy_dot, core::view<T, Device> dx_dot,
    core::view<T, Device> dw_dot, core::view<T, Device> db_dot, core::grad_mode data_mode, core::grad_mode param_mode,
    const fully_connected_params& p = {}) {
    constexpr std::string_view op = "ops::fully_connected_backward_tangent";
    const auto s = detail::fc_checked<T>(op, x.shape(), w.shape(), p);
    const core::shape ys{s.n, s.out};
    require_shape_of(op, "y", y.shape(), "x w^T", ys);
    require_shape_of(op, "x_dot", x_dot.shape(), "x", x.shape());
    if (!w_dot.empty()) require_shape_of(op, "w_dot", w_dot.shape(), "w", w.shape());
    require_shape_of(op, "dy", dy.shape(), "x w^T", ys);
    require_shape_of(op, "dy_dot", dy_dot.shape(), "x w^T", ys);
    if (data_mode != core::grad_mode::none) require_shape_of(op, "dx_dot", dx_dot.shape(), "x", x.shape());
    const bool has_db = param_mode != core::grad_mode::none && !db_dot.empty();
    if (param_mode != core::grad_mode::none) require_shape_of(op, "dw_dot", dw_dot.shape(), "w", w.shape());
    if (has_db) detail::require_fc_bias(op, "db_dot", db_dot.shape(), s.out);
    if (data_mode == core::grad_mode::none && param_mode == core::grad_mode::none) return;
    backend<fully_connected_op, Device>::backward_tangent(
        s, x.data(), w.data(), y.data(), x_dot.data(), w_dot.empty() ? nullptr : w_dot.data(), dy.data(), dy_dot.data(),
        dx_dot.data(), dw_dot.data(), has_db ? db_dot.data() : nullptr, data_mode, param_mode);
}

}  // namespace imbdef::ops
