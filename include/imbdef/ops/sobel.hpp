#pragma once
// ops::sobel, ops::sobel_backward, ops::sobel_magnitude and ops::sobel_magnitude_backward on any
// device (definition, gradients and tangent rules in def/sobel.hpp).
//
// Contract:
// - x is NCHW [N, C, H, W]; gx, gy, m and their gradients have x's shape. Shape mismatches throw
//   imbdef::error naming the op, the argument and both shapes.
// - sobel(x, gx, gy): either output may be empty (not computed). sobel_backward(dgx, dgy, dx,
//   mode): dx = K_x^T dgx + K_y^T dgy under mode; an empty dgx or dgy counts as zero, and dx's
//   shape is the reference for both.
// - sobel_magnitude(x, m) and sobel_magnitude_backward(x, dm, dx, mode).
// - Tangent rules (R1): gx and gy are linear, so the tangent of sobel is sobel(x_dot) and the
//   tangent of sobel_backward is sobel_backward(dgx_dot, dgy_dot). The magnitude has none.
// - Under grad_mode::none the backward passes return at once and dx may be empty.
// - Outputs must not alias inputs.
// T and Device are deduced from the output view; inputs accept tensors, views and const views.

#include <cmath>
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
#include "check_image.hpp"
#include "cpu/sobel.hpp"
#include "def/sobel.hpp"

namespace imbdef::ops {

namespace detail {

inline void check_sobel_params(std::string_view op, const sobel_params& p) {
    IMBDEF_REQUIRE(p.eps > 0.0 && std::isfinite(p.eps), std::string(op), "eps > 0", "eps " + std::to_string(p.eps));
}

}  // namespace detail

template <std::floating_point T, core::device_tag Device>
void sobel(std::type_identity_t<core::const_view<T, Device>> x, core::view<T, Device> gx,
           std::type_identity_t<core::view<T, Device>> gy, const sobel_params& params = {}) {
    constexpr const char* op = "ops::sobel";
    detail::check_nchw(op, "x", x.shape());
    if (!gx.empty()) require_shape_of(op, "gx", gx.shape(), "x", x.shape());
    if (!gy.empty()) require_shape_of(op, "gy", gy.shape(), "x", x.shape());
    if (x.empty() || (gx.empty() && gy.empty())) return;
    backend<sobel_op, Device>::forward(x, gx, gy, params);
}

template <std::floating_point T, core::device_tag Device>
void sobel_backward(std::type_identity_t<core::const_view<T, Device>> dgx,
                    std::type_identity_t<core::const_view<T, Device>> dgy, core::view<T, Device> dx,
                    core::grad_mode mode, const sobel_params& params = {}) {
    constexpr const char* op = "ops::sobel_backward";
    if (mode == core::grad_mode::none) return;
    detail::check_nchw(op, "dx", dx.shape());
    if (!dgx.empty()) require_shape_of(op, "dgx", dgx.shape(), "dx", dx.shape());
    if (!dgy.empty()) require_shape_of(op, "dgy", dgy.shape(), "dx", dx.shape());
    if (dx.empty()) return;
    backend<sobel_op, Device>::backward(dgx, dgy, dx, mode, params);
}

template <std::floating_point T, core::device_tag Device>
void sobel_magnitude(std::type_identity_t<core::const_view<T, Device>> x, core::view<T, Device> m,
                     const sobel_params& params = {}) {
    constexpr const char* op = "ops::sobel_magnitude";
    detail::check_nchw(op, "x", x.shape());
    detail::check_sobel_params(op, params);
    require_shape_of(op, "m", m.shape(), "x", x.shape());
    if (x.empty()) return;
    backend<sobel_magnitude_op, Device>::forward(x, m, params);
}

template <std::floating_point T, core::device_tag Device>
void sobel_magnitude_backward(std::type_identity_t<core::const_view<T, Device>> x,
                              std::type_identity_t<core::const_view<T, Device>> dm, core::view<T, Device> dx,
                              core::grad_mode mode, const sobel_params& params = {}) {
    constexpr const char* op = "ops::sobel_magnitude_backward";
    detail::check_nchw(op, "x", x.shape());
    detail::check_sobel_params(op, params);
    require_shape_of(op, "dm", dm.shape(), "x", x.shape());
    if (mode == core::grad_mode::none) return;
    require_shape_of(op, "dx", dx.shape(), "x", x.shape());
    if (x.empty()) return;
    backend<sobel_magnitude_op, Device>::backward(x, dm, dx, mode, params);
}

}  // namespace imbdef::ops
