#pragma once
// ops::minibatch_std: StyleGAN2's minibatch standard deviation layer (definition, derivatives and
// tangent rules in def/minibatch_std.hpp), with the tangent rules exact R1 needs.
//
//   minibatch_std(x, y)                                    y      [N, C + F, H, W]
//   minibatch_std_backward(x, dy, dx, mode)                dx     [N, C, H, W]
//   minibatch_std_forward_tangent(x, x_dot, y_dot)         y_dot  [N, C + F, H, W]
//   minibatch_std_backward_tangent(x, x_dot, dy, dy_dot, dx_dot, mode)
//
// Contract:
// - x is [N, C, H, W]; G = min(group_size, N) must divide N and F = num_channels must divide C,
//   else imbdef::error naming the op and both values. Groups are strided: sample g (N/G) + j
//   belongs to group j.
// - backward_tangent writes dx_dot, the tangent of backward's dx along (x_dot, dy_dot); dx itself
//   comes from backward. Both follow `mode`; under none, the output may be empty.
// - Outputs must not overlap inputs.

#include <algorithm>
#include <concepts>
#include <string>
#include <string_view>
#include <type_traits>

#include "../core/device.hpp"
#include "../core/error.hpp"
#include "../core/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "backend.hpp"
#include "check.hpp"
#include "cpu/minibatch_std.hpp"
#include "def/minibatch_std.hpp"

namespace imbdef::ops {

namespace detail {
// Validates x and the parameters for `op`; returns the output shape and the effective group size.
inline core::shape check_minibatch_std(std::string_view where, const core::shape& x, const minibatch_std_params& p,
                                       core::index_t& groups) {
    const std::string op(where);
    IMBDEF_REQUIRE(x.rank() == 4, op, "x of rank 4 [N, C, H, W]", "x of shape " + x.to_string());
    IMBDEF_REQUIRE(p.group_size >= 1, op, "group_size >= 1", "group_size " + std::to_string(p.group_size));
    IMBDEF_REQUIRE(p.num_channels >= 1, op, "num_channels >= 1", "num_channels " + std::to_string(p.num_channels));
    IMBDEF_REQUIRE(p.epsilon >= 0.0, op, "epsilon >= 0", "epsilon " + std::to_string(p.epsilon));
    const core::index_t n = x[0];
    groups = std::min(p.group_size, n);
    IMBDEF_REQUIRE(n == 0 || n % groups == 0, op,
                   "a batch size divisible by the group size " + std::to_string(groups) + " (min(group_size " +
                       std::to_string(p.group_size) + ", N))",
                   "batch size N = " + std::to_string(n) + " for x of shape " + x.to_string());
    IMBDEF_REQUIRE(x[1] % p.num_channels == 0, op,
                   "num_channels dividing the " + std::to_string(x[1]) + " channels of x",
                   "num_channels " + std::to_string(p.num_channels) + " for x of shape " + x.to_string());
    return core::shape{x[0], x[1] + p.num_channels, x[2], x[3]};
}
}  // namespace detail

// The output shape [N, C + F, H, W] for x of shape [N, C, H, W]; throws on invalid arguments.
inline core::shape minibatch_std_output_shape(const core::shape& x, const minibatch_std_params& p = {}) {
    core::index_t g = 0;
    return detail::check_minibatch_std(minibatch_std_op::name, x, p, g);
}

template <std::floating_point T, core::device_tag Device>
void minibatch_std(std::type_identity_t<core::const_view<T, Device>> x, core::view<T, Device> y,
                   const minibatch_std_params& params = {}) {
    constexpr std::string_view op = minibatch_std_op::name;
    core::index_t g = 0;
    const core::shape out = detail::check_minibatch_std(op, x.shape(), params, g);
    require_shape_of(op, "y", y.shape(), "x with the extra channels", out);
    if (x.empty()) return;
    backend<minibatch_std_op, Device>::forward(x, y, g, params.num_channels, static_cast<T>(params.epsilon));
}

// y_dot: the tangent of y along x_dot (x_dot with its own extra channels s_dot).
template <std::floating_point T, core::device_tag Device>
void minibatch_std_forward_tangent(std::type_identity_t<core::const_view<T, Device>> x,
                                   std::type_identity_t<core::const_view<T, Device>> x_dot,
                                   core::view<T, Device> y_dot, const minibatch_std_params& params = {}) {
    constexpr std::string_view op = "ops::minibatch_std_forward_tangent";
    core::index_t g = 0;
    const core::shape out = detail::check_minibatch_std(op, x.shape(), params, g);
    require_shape_of(op, "x_dot", x_dot.shape(), "x", x.shape());
    require_shape_of(op, "y_dot", y_dot.shape(), "x with the extra channels", out);
    if (x.empty()) return;
    backend<minibatch_std_op, Device>::forward_tangent(x, x_dot, y_dot, g, params.num_channels,
                                                       static_cast<T>(params.epsilon));
}

template <std::floating_point T, core::device_tag Device>
void minibatch_std_backward(std::type_identity_t<core::const_view<T, Device>> x,
                            std::type_identity_t<core::const_view<T, Device>> dy, core::view<T, Device> dx,
                            core::grad_mode mode, const minibatch_std_params& params = {}) {
    constexpr std::string_view op = "ops::minibatch_std_backward";
    core::index_t g = 0;
    const core::shape out = detail::check_minibatch_std(op, x.shape(), params, g);
    require_shape_of(op, "dy", dy.shape(), "x with the extra channels", out);
    if (mode == core::grad_mode::none) return;
    require_shape_of(op, "dx", dx.shape(), "x", x.shape());
    if (x.empty()) return;
    backend<minibatch_std_op, Device>::backward(x, dy, dx, mode, g, params.num_channels,
                                                static_cast<T>(params.epsilon));
}

// dx_dot: the tangent of backward's dx along (x_dot, dy_dot), including the curvature of the
// statistic (the d(dx)/dx x_dot term).
template <std::floating_point T, core::device_tag Device>
void minibatch_std_backward_tangent(std::type_identity_t<core::const_view<T, Device>> x,
                                    std::type_identity_t<core::const_view<T, Device>> x_dot,
                                    std::type_identity_t<core::const_view<T, Device>> dy,
                                    std::type_identity_t<core::const_view<T, Device>> dy_dot,
                                    core::view<T, Device> dx_dot, core::grad_mode mode,
                                    const minibatch_std_params& params = {}) {
    constexpr std::string_view op = "ops::minibatch_std_backward_tangent";
    core::index_t g = 0;
    const core::shape out = detail::check_minibatch_std(op, x.shape(), params, g);
    require_shape_of(op, "x_dot", x_dot.shape(), "x", x.shape());
    require_shape_of(op, "dy", dy.shape(), "x with the extra channels", out);
    require_shape_of(op, "dy_dot", dy_dot.shape(), "x with the extra channels", out);
    if (mode == core::grad_mode::none) return;
    require_shape_of(op, "dx_dot", dx_dot.shape(), "x", x.shape());
    if (x.empty()) return;
    backend<minibatch_std_op, Device>::backward_tangent(x, x_dot, dy, dy_dot, dx_dot, mode, g, params.num_channels,
                                                        static_cast<T>(params.epsilon));
}

}  // namespace imbdef::ops
