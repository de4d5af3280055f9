#pragma once
// ops::filtered_lrelu and ops::filtered_lrelu_backward on any device (definition, mask layout and
// gradient formulas in def/filtered_lrelu.hpp).
//
// Contract:
// - x is NCHW [N, C, H, W] (H, W >= 1); b is [C]; fu and fd are empty (no filter), rank 1 [F]
//   (separable) or rank 2 [Fy, Fx]. y has filtered_lrelu_output_shape(...) and mask, when not
//   empty, filtered_lrelu_mask_shape(...) ([ceil(N C / 16), act_h, ceil(act_w / 4), 16] bytes,
//   layout in def/filtered_lrelu.hpp); an empty mask skips saving the codes (inference). Parameters: up, down >= 1, gain > 0 and slope finite,
//   clamp >= 0 (infinity: none). Bad shapes or parameters throw imbdef::error naming the op, the
//   argument and both values.
// - filtered_lrelu_backward(x_shape, fu, fd, mask, dy, dx, db, data_mode, param_mode, params):
//   dx (shape x_shape) under data_mode and db ([C]) under param_mode, from the mask the forward pass
//   wrote with the same filters and parameters; a buffer under none may be empty.
// - The op is on the generator's path only: it has no tangent rules (reference section 7).
// - Outputs must not alias inputs.
// T and Device are deduced from the output view; inputs accept tensors, views and const views.

#include <cmath>
#include <concepts>
#include <cstdint>
#include <string>
#include <type_traits>

#include "../core/device.hpp"
#include "../core/error.hpp"
#include "../core/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "backend.hpp"
#include "check.hpp"
#include "cpu/filtered_lrelu.hpp"
#include "def/filtered_lrelu.hpp"

namespace imbdef::ops {

namespace detail {

inline void check_fir_filter_or_none(const std::string& op, const char* arg, const core::shape& f) {
    IMBDEF_REQUIRE(f.numel() == 0 || f.rank() == 1 || f.rank() == 2, op,
                   std::string(arg) + " empty (no filter), of rank 1 [F] or of rank 2 [Fy, Fx]",
                   std::string(arg) + " of shape " + f.to_string());
}

inline index_t fir_extent(const core::shape& f, int axis) {  // axis 0: y, 1: x
    if (f.numel() == 0) return 1;
    return f.rank() == 1 ? f[0] : f[axis];
}

inline filtered_lrelu_geometry checked_filtered_lrelu_geometry(const std::string& op, const core::shape& x,
                                                               const core::shape& fu, const core::shape& fd,
                                                               const filtered_lrelu_params& p) {
    IMBDEF_REQUIRE(x.rank() == 4 && x[2] >= 1 && x[3] >= 1, op, "x of rank 4 [N, C, H, W] with H, W >= 1",
                   "x of shape " + x.to_string());
    check_fir_filter_or_none(op, "fu", fu);
    check_fir_filter_or_none(op, "fd", fd);
    IMBDEF_REQUIRE(p.up >= 1 && p.down >= 1, op, "up and down >= 1",
                   "up " + std::to_string(p.up) + ", down " + std::to_string(p.down));
    IMBDEF_REQUIRE(p.gain > 0.0 && std::isfinite(p.gain), op, "a finite gain > 0", "gain " + std::to_string(p.gain));
    IMBDEF_REQUIRE(std::isfinite(p.slope), op, "a finite slope", "slope " + std::to_string(p.slope));
    IMBDEF_REQUIRE(p.clamp >= 0.0, op, "clamp >= 0 (infinity for none)", "clamp " + std::to_string(p.clamp));
    const filtered_lrelu_geometry g = make_filtered_lrelu_geometry(
        x[2], x[3], fir_extent(fu, 0), fir_extent(fu, 1), fir_extent(fd, 0), fir_extent(fd, 1), p);
    IMBDEF_REQUIRE(g.out_h >= 1 && g.out_w >= 1, op,
                   "an output of positive size (in * up + p0 + p1 - (Fu - 1) - (Fd - 1) + (down - 1)) // down",
                   "output size " + std::to_string(g.out_h) + " x " + std::to_string(g.out_w) + " for x of shape " +
                       x.to_string() + ", fu " + fu.to_string() + ", fd " + fd.to_string() + ", pads [" +
                       std::to_string(p.pad_x0) + ", " + std::to_string(p.pad_x1) + ", " + std::to_string(p.pad_y0) +
                       ", " + std::to_string(p.pad_y1) + "]");
    return g;
}

}  // namespace detail

// The geometry of filtered_lrelu on an input of shape x; throws imbdef::error on arguments the
// op rejects.
inline filtered_lrelu_geometry filtered_lrelu_geometry_of(const core::shape& x, const core::shape& fu,
                                                          const core::shape& fd, const filtered_lrelu_params& p) {
    return detail::checked_filtered_lrelu_geometry("ops::filtered_lrelu", x, fu, fd, p);
}

inline core::shape filtered_lrelu_output_shape(const core::shape& x, const core::shape& fu, const core::shape& fd,
                                               const filtered_lrelu_params& p) {
    const filtered_lrelu_geometry g = filtered_lrelu_geometry_of(x, fu, fd, p);
    return core::shape{x[0], x[1], g.out_h, g.out_w};
}

namespace detail {
inline core::shape filtered_lrelu_mask_shape_of(const core::shape& x, const filtered_lrelu_geometry& g) {
    constexpr index_t group = filtered_lrelu_geometry::mask_group;
    return core::shape{(x[0] * x[1] + group - 1) / group, g.act_h, g.mask_row_bytes, group};
}
}  // namespace detail

inline core::shape filtered_lrelu_mask_shape(const core::shape& x, const core::shape& fu, const core::shape& fd,
                                             const filtered_lrelu_params& p) {
    return detail::filtered_lrelu_mask_shape_of(x, filtered_lrelu_geometry_of(x, fu, fd, p));
}

template <std::floating_point T, core::device_tag Device>
void filtered_lrelu(std::type_identity_t<core::const_view<T, Device>> x,
                    std::type_identity_t<core::const_view<T, Device>> fu,
                    std::type_identity_t<core::const_view<T, Device>> fd,
                    std::type_identity_t<core::const_view<T, Device>> b, core::view<T, Device> y,
                    std::type_identity_t<core::view<std::uint8_t, Device>> mask, const filtered_lrelu_params& params) {
    constexpr const char* op = "ops::filtered_lrelu";
    const filtered_lrelu_geometry g = detail::checked_filtered_lrelu_geometry(op, x.shape(), fu.shape(), fd.shape(), params);
    require_shape_of(op, "b", b.shape(), "the channels of x", core::shape{x.size(1)});
    const core::shape out{x.size(0), x.size(1), g.out_h, g.out_w};
    IMBDEF_REQUIRE(y.shape() == out, op, "y of shape " + out.to_string(), "y of shape " + y.shape().to_string());
    const core::shape mask_shape = detail::filtered_lrelu_mask_shape_of(x.shape(), g);
    IMBDEF_REQUIRE(mask.empty() || mask.shape() == mask_shape, op,
                   "mask empty or of shape " + mask_shape.to_string(), "mask of shape " + mask.shape().to_string());
    if (y.empty()) return;
    backend<filtered_lrelu_op, Device>::forward(x, fu, fd, b, y, mask, g, params);
}

template <std::floating_point T, core::device_tag Device>
void filtered_lrelu_backward(const core::shape& x_shape, std::type_identity_t<core::const_view<T, Device>> fu,
                             std::type_identity_t<core::const_view<T, Device>> fd,
                             std::type_identity_t<core::const_view<std::uint8_t, Device>> mask,
                             std::type_identity_t<core::const_view<T, Device>> dy, core::view<T, Device> dx,
                             std::type_identity_t<core::view<T, Device>> db, core::grad_mode data_mode,
                             core::grad_mode param_mode, const filtered_lrelu_params& params) {
    constexpr const char* op = "ops::filtered_lrelu_backward";
    const filtered_lrelu_geometry g = detail::checked_filtered_lrelu_geometry(op, x_shape, fu.shape(), fd.shape(), params);
    const core::shape out{x_shape[0], x_shape[1], g.out_h, g.out_w};
    IMBDEF_REQUIRE(dy.shape() == out, op, "dy of shape " + out.to_string() + " (the output shape for x of shape " +
                   x_shape.to_string() + ")", "dy of shape " + dy.shape().to_string());
    const core::shape mask_shape = detail::filtered_lrelu_mask_shape_of(x_shape, g);
    IMBDEF_REQUIRE(mask.shape() == mask_shape, op, "mask of shape " + mask_shape.to_string() + " (saved by the forward pass)",
                   "mask of shape " + mask.shape().to_string());
    if (data_mode != core::grad_mode::none) require_shape_of(op, "dx", dx.shape(), "x", x_shape);
    if (param_mode != core::grad_mode::none) require_shape_of(op, "db", db.shape(), "the channels of x", core::shape{x_shape[1]});
    if (data_mode == core::grad_mode::none && param_mode == core::grad_mode::none) return;
    backend<filtered_lrelu_op, Device>::backward(dy, fu, fd, mask, dx, db, data_mode, param_mode, g, params);
}

}  // namespace imbdef::ops
