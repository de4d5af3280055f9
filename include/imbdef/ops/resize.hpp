#pragma once
// ops::resize and ops::resize_backward on any device (definition in def/resize.hpp).
//
// Contract:
// - x [N, C, H, W] and y [N, C, H', W'] (the output size is y's), all extents of H, W, H', W'
//   >= 1; the method is chosen per axis: area averaging when shrinking, bicubic (Keys, a =
//   params.cubic_a) when enlarging, the identity when equal. Bad shapes throw imbdef::error naming
//   the op, the argument and both shapes.
// - resize_backward(dy, dx, mode) writes the adjoint R_y^T dy R_x under mode; under
//   grad_mode::none it returns at once and dx may be empty.
// - Tangent rules: linear, so the tangent of forward is resize(x_dot) and the tangent of backward
//   resize_backward(dy_dot).
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
#include "check_image.hpp"
#include "cpu/resize.hpp"
#include "def/resize.hpp"

namespace imbdef::ops {

namespace detail {

inline void check_resize(const std::string& op, const char* in_name, const core::shape& in, const char* out_name,
                         const core::shape& out, const resize_params& p) {
    check_nchw(op, in_name, in);
    check_nchw(op, out_name, out);
    IMBDEF_REQUIRE(in[0] == out[0] && in[1] == out[1], op,
                   std::string(out_name) + " with the batch and channels of " + in_name + " " + in.to_string(),
                   std::string(out_name) + " of shape " + out.to_string());
    IMBDEF_REQUIRE(in[2] >= 1 && in[3] >= 1 && out[2] >= 1 && out[3] >= 1, op,
                   "heights and widths >= 1", std::string(in_name) + " " + in.to_string() + ", " + out_name + " " +
                                                  out.to_string());
    IMBDEF_REQUIRE(std::isfinite(p.cubic_a), op, "a finite cubic_a", "cubic_a " + std::to_string(p.cubic_a));
}

}  // namespace detail

template <std::floating_point T, core::device_tag Device>
void resize(std::type_identity_t<core::const_view<T, Device>> x, core::view<T, Device> y,
            const resize_params& params = {}) {
    detail::check_resize("ops::resize", "x", x.shape(), "y", y.shape(), params);
    if (y.empty()) return;
    backend<resize_op, Device>::forward(x, y, params);
}

template <std::floating_point T, core::device_tag Device>
void resize_backward(std::type_identity_t<core::const_view<T, Device>> dy, core::view<T, Device> dx,
                     core::grad_mode mode, const resize_params& params = {}) {
    if (mode == core::grad_mode::none) return;
    detail::check_resize("ops::resize_backward", "dx", dx.shape(), "dy", dy.shape(), params);
    if (dx.empty()) return;
    backend<resize_op, Device>::backward(dy, dx, mode, params);
}

}  // namespace imbdef::ops
