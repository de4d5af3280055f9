#pragma once
// ops::normalize_2nd_moment: y = x * rsqrt(mean(x^2) + eps) per sample, the mean taken over every
// axis but the first (reference section 1); with its backward (def/normalize_2nd_moment.hpp).
//
//   normalize_2nd_moment(x, y)
//   normalize_2nd_moment_backward(x, dy, dx, mode)
//
// x has rank >= 2 ([N, F] for z, or [N, ...]); y, dy and dx have its shape, else imbdef::error
// naming the op, the argument and both shapes. Under grad_mode::none dx is not checked and may be
// empty. y may alias x; dx must not overlap x or dy. A sample of zeros maps to zeros.

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
#include "cpu/normalize_2nd_moment.hpp"
#include "def/normalize_2nd_moment.hpp"

namespace imbdef::ops {

template <std::floating_point T, core::device_tag Device>
void normalize_2nd_moment(std::type_identity_t<core::const_view<T, Device>> x, core::view<T, Device> y,
                          const normalize_2nd_moment_params& params = {}) {
    constexpr std::string_view op = normalize_2nd_moment_op::name;
    IMBDEF_REQUIRE(x.rank() >= 2, std::string(op), "x of rank >= 2 [N, features...]",
                   "x of shape " + x.shape().to_string());
    require_shape_of(op, "y", y.shape(), "x", x.shape());
    if (x.empty()) return;
    backend<normalize_2nd_moment_op, Device>::forward(x, y, x.size(0), static_cast<T>(params.epsilon));
}

template <std::floating_point T, core::device_tag Device>
void normalize_2nd_moment_backward(std::type_identity_t<core::const_view<T, Device>> x,
                                   std::type_identity_t<core::const_view<T, Device>> dy, core::view<T, Device> dx,
                                   core::grad_mode mode, const normalize_2nd_moment_params& params = {}) {
    constexpr std::string_view op = "ops::normalize_2nd_moment_backward";
    IMBDEF_REQUIRE(x.rank() >= 2, std::string(op), "x of rank >= 2 [N, features...]",
                   "x of shape " + x.shape().to_string());
    require_shape_of(op, "dy", dy.shape(), "x", x.shape());
    if (mode == core::grad_mode::none) return;
    require_shape_of(op, "dx", dx.shape(), "x", x.shape());
    if (x.empty()) return;
    backend<normalize_2nd_moment_op, Device>::backward(x, dy, dx, mode, x.size(0), static_cast<T>(params.epsilon));
}

}  // namespace imbdef::ops
