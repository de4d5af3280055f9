#pragma once
// ops::upfirdn2d and ops::upfirdn2d_backward on any device (definition in def/upfirdn2d.hpp).
//
// Contract:
// - x is NCHW [N, C, H, W] with H, W >= 1; f is rank 1 [F] (separable) or rank 2 [Fy, Fx];
//   y has shape upfirdn2d_output_shape(x.shape(), f.shape(), params), which must have positive
//   height and width. Bad shapes or parameters throw imbdef::error naming the op, the argument
//   and both values.
// - upfirdn2d_backward(dy, f, dx, mode, params) writes the gradient of sum(dy * upfirdn2d(x)) with
//   respect to x (dx has x's shape) under `mode`: upfirdn2d with up and down swapped, the filter
//   flipped and the pads of reference section 7. Under grad_mode::none it returns at once and dx
//   may be empty. The filter gets no gradient (it is a constant buffer).
// - Tangent rules (R1): the op is linear in x, so the tangent of forward is upfirdn2d(x_dot) and
//   the tangent of backward is upfirdn2d_backward(dy_dot); there is nothing else to call.
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
#include "cpu/upfirdn2d.hpp"
#include "def/upfirdn2d.hpp"

namespace imbdef::ops {

namespace detail {

inline void check_upfirdn2d_filter(std::string_view op, const core::shape& f) {
    IMBDEF_REQUIRE((f.rank() == 1 || f.rank() == 2) && f.numel() >= 1, std::string(op), "f of rank 1 [F] or 2 [Fy, Fx], non-empty",
                   "f of shape " + f.to_string());
}

inline void check_upfirdn2d_params(std::string_view op, const upfirdn2d_params& p) {
    IMBDEF_REQUIRE(p.up_x >= 1 && p.up_y >= 1, std::string(op), "up factors >= 1",
                   "up_x " + std::to_string(p.up_x) + ", up_y " + std::to_string(p.up_y));
    IMBDEF_REQUIRE(p.down_x >= 1 && p.down_y >= 1, std::string(op), "down factors >= 1",
                   "down_x " + std::to_string(p.down_x) + ", down_y " + std::to_string(p.down_y));
    IMBDEF_REQUIRE(std::isfinite(p.gain), std::string(op), "a finite gain", "gain " + std::to_string(p.gain));
}

// The output shape of upfirdn2d on x, checked (see the contract above).
inline core::shape checked_upfirdn2d_output(std::string_view op, const core::shape& x, const core::shape& f,
                                            const upfirdn2d_params& p) {
    IMBDEF_REQUIRE(x.rank() == 4 && x[2] >= 1 && x[3] >= 1, std::string(op), "x of rank 4 [N, C, H, W] with H, W >= 1",
                   "x of shape " + x.to_string());
    check_upfirdn2d_filter(op, f);
    check_upfirdn2d_params(op, p);
    const auto [ax, ay] = upfirdn2d_axes(x, f, p);
    const index_t oh = ay.out(), ow = ax.out();
    IMBDEF_REQUIRE(oh >= 1 && ow >= 1, std::string(op),
                   "an output of positive size (H * up + pad0 + pad1 - F + down) // down on both axes",
                   "output size " + std::to_string(oh) + " x " + std::to_string(ow) + " for x of shape " +
                       x.to_string() + ", f of shape " + f.to_string() + ", pads [" + std::to_string(p.pad_x0) +
                       ", " + std::to_string(p.pad_x1) + ", " + std::to_string(p.pad_y0) + ", " +
                       std::to_string(p.pad_y1) + "]");
    return core::shape{x[0], x[1], oh, ow};
}

}  // namespace detail

// The shape of upfirdn2d's output for an input of shape x and a filter of shape f; throws
// imbdef::error on arguments the op rejects.
inline core::shape upfirdn2d_output_shape(const core::shape& x, const core::shape& f, const upfirdn2d_params& p) {
    return detail::checked_upfirdn2d_output("ops::upfirdn2d", x, f, p);
}

template <std::floating_point T, core::device_tag Device>
void upfirdn2d(std::type_identity_t<core::const_view<T, Device>> x, std::type_identity_t<core::const_view<T, Device>> f,
               core::view<T, Device> y, const upfirdn2d_params& params) {
    const core::shape expected = detail::checked_upfirdn2d_output("ops::upfirdn2d", x.shape(), f.shape(), params);
    IMBDEF_REQUIRE(y.shape() == expected, "ops::upfirdn2d", "y of shape " + expected.to_string(),
                   "y of shape " + y.shape().to_string());
    if (y.empty()) return;
    backend<upfirdn2d_op, Device>::forward(x, f, y, params);
}

template <std::floating_point T, core::device_tag Device>
void upfirdn2d_backward(std::type_identity_t<core::const_view<T, Device>> dy,
                        std::type_identity_t<core::const_view<T, Device>> f, core::view<T, Device> dx,
                        core::grad_mode mode, const upfirdn2d_params& params) {
    constexpr const char* op = "ops::upfirdn2d_backward";
    if (mode == core::grad_mode::none) {
        detail::check_upfirdn2d_filter(op, f.shape());
        detail::check_upfirdn2d_params(op, params);
        return;
    }
    const core::shape expected = detail::checked_upfirdn2d_output(op, dx.shape(), f.shape(), params);
    IMBDEF_REQUIRE(dy.shape() == expected, op,
                   "dy of shape " + expected.to_string() + " (the output shape for dx of shape " +
                       dx.shape().to_string() + ")",
                   "dy of shape " + dy.shape().to_string());
    if (dx.empty()) return;
    backend<upfirdn2d_op, Device>::backward(dy, f, dx, mode, params);
}

}  // namespace imbdef::ops
