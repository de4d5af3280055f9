#pragma once
// ops::conv2d: 2-D convolution (NCHW, PyTorch's cross-correlation; definition in def/conv2d.hpp),
// its three gradients and the tangent rules of R1.
//
//   conv2d(x, w, b, y, p)                          y = conv(x, w) + b
//   conv2d_backward_data(dy, w, dx, mode, p)       dx (mode) = conv_transpose(dy, w)
//   conv2d_backward_weight(x, dy, dw, mode, p)     dw (mode) = sum_n dy[n] col(x[n])^T
//   conv2d_backward_bias(dy, db, mode)             db (mode) = sum_{n, i, j} dy
//   conv2d_backward(x, w, dy, dx, dw, db, data_mode, param_mode, p)   all three
//   conv2d_forward_tangent / conv2d_backward_tangent                 see below
//
// Contract:
// - x [N, C, H, W], w [O, C, KH, KW], y [N, O, OH, OW] with OH = (H + 2 pad - KH) / stride + 1
//   (floor; likewise OW), at least 1; stride >= 1. A bias b is [O] or empty (no bias).
// - Gradients follow core::grad_mode: assign overwrites, accumulate adds, none leaves the buffer
//   untouched (it may then be empty). In conv2d_backward the weight and bias gradients follow
//   param_mode; an empty db there means the layer has no bias.
// - Outputs must not alias inputs. Shape errors are imbdef::error naming the op, the argument
//   and both shapes.
// T and Device are deduced from the output view; inputs accept tensors, views and const views.

#include <concepts>
#include <string>
#include <type_traits>

#include "../core/device.hpp"
#include "../core/error.hpp"
#include "../core/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "backend.hpp"
#include "check.hpp"
#include "cpu/conv2d.hpp"
#include "def/conv2d.hpp"

namespace imbdef::ops {

namespace detail {

inline void require_rank(std::string_view op, std::string_view arg, const core::shape& s, int rank,
                         std::string_view layout) {
    IMBDEF_REQUIRE(s.rank() == rank, std::string(op),
                   std::string(arg) + " of rank " + std::to_string(rank) + " (" + std::string(layout) + ")",
                   std::string(arg) + " of shape " + s.to_string());
}

// Checks x and w against each other and the parameters and returns the geometry.
inline conv_geometry conv2d_geometry(std::string_view op, const core::shape& x, const core::shape& w,
                                     const conv2d_params& p) {
    require_rank(op, "x", x, 4, "[N, C, H, W]");
    require_rank(op, "w", w, 4, "[O, C, KH, KW]");
    IMBDEF_REQUIRE(p.stride >= 1, std::string(op), "stride >= 1", "stride " + std::to_string(p.stride));
    IMBDEF_REQUIRE(w[1] == x[1], std::string(op),
                   "w of shape [O, " + std::to_string(x[1]) + ", KH, KW] (the channels of x of shape " + x.to_string() +
                       ")",
                   "w of shape " + w.to_string());
    const conv_geometry g = conv_geometry::make(x[0], x[1], x[2], x[3], w[0], w[2], w[3], p.stride, p.padding, p.padding);
    IMBDEF_REQUIRE(g.oh >= 1 && g.ow >= 1 && g.kh >= 1 && g.kw >= 1, std::string(op),
                   "a kernel that fits the padded input (output extent >= 1)",
                   "x of shape " + x.to_string() + ", w of shape " + w.to_string() + ", padding " +
                       std::to_string(p.padding) + ", stride " + std::to_string(p.stride));
    return g;
}

inline core::shape conv2d_output_shape(const conv_geometry& g) { return core::shape{g.n, g.o, g.oh, g.ow}; }

inline void require_bias(std::string_view op, std::string_view arg, const core::shape& b, core::index_t channels) {
    require_shape_of(op, arg, b, "the output channels of w", core::shape{channels});
}

}  // namespace detail

template <std::floating_point T, core::device_tag Device>
void conv2d(std::type_identity_t<core::const_view<T, Device>> x, std::type_identity_t<core::const_view<T, Device>> w,
            std::type_identity_t<core::const_view<T, Device>> b, core::view<T, Device> y, const conv2d_params& p = {}) {
    constexpr std::string_view op = "ops::conv2d";
    const conv_geometry g = detail::conv2d_geometry(op, x.shape(), w.shape(), p);
    if (!b.empty()) detail::require_bias(op, "b", b.shape(), g.o);
    require_shape_of(op, "y", y.shape(), "conv(x, w)", detail::conv2d_output_shape(g));
    if (y.empty()) return;
    backend<conv2d_op, Device>::forward(g, x.data(), w.data(), b.empty() ? nullptr : b.data(), y.data(), false);
}

// dx's shape names the input extents (with stride > 1 several H map to one OH).
template <std::floating_point T, core::device_tag Device>
void conv2d_backward_data(std::type_identity_t<core::const_view<T, Device>> dy,
                          std::type_identity_t<core::const_view<T, Device>> w, core::view<T, Device> dx,
                          core::grad_mode mode, const conv2d_params& p = {}) {
    constexpr std::string_view op = "ops::conv2d_backward_data";
    if (mode == core::grad_mode::none) return;
    const conv_geometry g = detail::conv2d_geometry(op, dx.shape(), w.shape(), p);
    require_shape_of(op, "dy", dy.shape(), "conv(dx, w)", detail::conv2d_output_shape(g));
    if (dx.empty()) return;
    backend<conv2d_op, Device>::backward_data(g, dy.data(), w.data(), dx.data(), mode);
}

template <std::floating_point T, core::device_tag Device>
void conv2d_backward_weight(std::type_identity_t<core::const_view<T, Device>> x,
                            std::type_identity_t<core::const_view<T, Device>> dy, core::view<T, Device> dw,
                            core::grad_mode mode, const conv2d_params& p = {}) {
    constexpr std::string_view op = "ops::conv2d_backward_weight";
    if (mode == core::grad_mode::none) return;
    const conv_geometry g = detail::conv2d_geometry(op, x.shape(), dw.shape(), p);
    require_shape_of(op, "dy", dy.shape(), "conv(x, dw)", detail::conv2d_output_shape(g));
    if (dw.empty()) return;
    backend<conv2d_op, Device>::backward_weight(g, x.data(), dy.data(), dw.data(), mode);
}

template <std::floating_point T, core::device_tag Device>
void conv2d_backward_bias(std::type_identity_t<core::const_view<T, Device>> dy, core::view<T, Device> db,
                          core::grad_mode mode) {
    constexpr std::string_view op = "ops::conv2d_backward_bias";
    if (mode == core::grad_mode::none) return;
    detail::require_rank(op, "dy", dy.shape(), 4, "[N, O, OH, OW]");
    detail::require_bias(op, "db", db.shape(), dy.size(1));
    backend<conv2d_op, Device>::backward_bias(dy.size(0), dy.size(1), dy.size(2) * dy.size(3), dy.data(), db.data(),
                                              mode);
}

template <std::floating_point T, core::device_tag Device>
void conv2d_backward(std::type_identity_t<core::const_view<T, Device>> x,
                     std::type_identity_t<core::const_view<T, Device>> w,
                     std::type_identity_t<core::const_view<T, Device>> dy, core::view<T, Device> dx,
                     core::view<T, Device> dw, core::view<T, Device> db, core::grad_mode data_mode,
                     core::grad_mode param_mode, const conv2d_params& p = {}) {
    constexpr std::string_view op = "ops::conv2d_backward";
    const conv_geometry g = detail::conv2d_geometry(op, x.shape(), w.shape(), p);
    require_shape_of(op, "dy", dy.shape(), "conv(x, w)", detail::conv2d_output_shape(g));
    if (data_mode != core::grad_mode::none) require_shape_of(op, "dx", dx.shape(), "x", x.shape());
    if (param_mode != core::grad_mode::none) {
        require_shape_of(op, "dw", dw.shape(), "w", w.shape());
        if (!db.empty()) detail::require_bias(op, "db", db.shape(), g.o);
    }
    using B = backend<conv2d_op, Device>;
    if (data_mode != core::grad_mode::none) B::backward_data(g, dy.data(), w.data(), dx.data(), data_mode);
    if (param_mode != core::grad_mode::none) {
        B::backward_weight(g, x.data(), dy.data(), dw.data(), param_mode);
        if (!db.empty()) B::backward_bias(g.n, g.o, g.out_plane(), dy.data(), db.data(), param_mode);
    }
}

// The tangent of the forward pass along (x_dot, w_dot, b_dot):
//   y_dot = conv(x_dot, w) + conv(x, w_dot) + b_dot.
// An empty w_dot or b_dot is a zero tangent (R1 perturbs only the input). y_dot is assigned.
template <std::floating_point T, core::device_tag Device>
void conv2d_forward_tangent(std::type_identity_t<core::const_view<T, Device>> x,
                            std::type_identity_t<core::const_view<T, Device>> w,
                            std::type_identity_t<core::const_view<T, Device>> x_dot,
                            std::type_identity_t<core::const_view<T, Device>> w_dot,
                            std::type_identity_t<core::const_view<T, Device>> b_dot, core::view<T, Device> y_dot,
                            const conv2d_params& p = {}) {
    constexpr std::string_view op = "ops::conv2d_forward_tangent";
    const conv_geometry g = detail::conv2d_geometry(op, x.shape(), w.shape(), p);
    require_shape_of(op, "x_dot", x_dot.shape(), "x", x.shape());
    if (!w_dot.empty()) require_shape_of(op, "w_dot", w_dot.shape(), "w", w.shape());
    if (!b_dot.empty()) detail::require_bias(op, "b_dot", b_dot.shape(), g.o);
    require_shape_of(op, "y_dot", y_dot.shape(), "conv(x, w)", detail::conv2d_output_shape(g));
    if (y_dot.empty()) return;
    using B = backend<conv2d_op, Device>;
    B::forward(g, x_dot.data(), w.data(), b_dot.empty() ? nullptr : b_dot.data(), y_dot.data(), false);
    if (!w_dot.empty()) B::forward(g, x.data(), w_dot.data(), static_cast<const T*>(nullptr), y_dot.data(), true);
}

// The tangent of the backward pass along (x_dot, w_dot, dy_dot): the backward is bilinear in
// (w, dy) for dx and in (x, dy) for dw, so
//   dx_dot = conv_transpose(dy_dot, w) + conv_transpose(dy, w_dot)
//   dw_dot = wgrad(x_dot, dy) + wgrad(x, dy_dot)
//   db_dot = sum dy_dot
// under data_mode (dx_dot) and param_mode (dw_dot, db_dot; an empty db_dot means no bias).
// An empty w_dot is a zero tangent.
template <std::floating_point T, core::device_tag Device>
void conv2d_backward_tangent(std::type_identity_t<core::const_view<T, Device>> x,
                             std::type_identity_t<core::const_view<T, Device>> w,
                             std::type_identity_t<core::const_view<T, Device>> x_dot,
                             std::type_identity_t<core::const_view<T, Device>> w_dot,
                             std::type_identity_t<core::const_view<T, Device>> dy,
                             std::type_identity_t<core::const_view<T, Device>> dy_dot, core::view<T, Device> dx_dot,
                             core::view<T, Device> dw_dot, core::view<T, Device> db_dot, core::grad_mode data_mode,
                             core::grad_mode param_mode, const conv2d_params& p = {}) {
    constexpr std::string_view op = "ops::conv2d_backward_tangent";
    const conv_geometry g = detail::conv2d_geometry(op, x.shape(), w.shape(), p);
    const core::shape ys = detail::conv2d_output_shape(g);
    require_shape_of(op, "x_dot", x_dot.shape(), "x", x.shape());
    if (!w_dot.empty()) require_shape_of(op, "w_dot", w_dot.shape(), "w", w.shape());
    require_shape_of(op, "dy", dy.shape(), "conv(x, w)", ys);
    require_shape_of(op, "dy_dot", dy_dot.shape(), "conv(x, w)", ys);
    if (data_mode != core::grad_mode::none) require_shape_of(op, "dx_dot", dx_dot.shape(), "x", x.shape());
    if (param_mode != core::grad_mode::none) {
        require_shape_of(op, "dw_dot", dw_dot.shape(), "w", w.shape());
        if (!db_dot.empty()) detail::require_bias(op, "db_dot", db_dot.shape(), g.o);
    }
    using B = backend<conv2d_op, Device>;
    if (data_mode != core::grad_mode::none) {
        B::backward_data(g, dy_dot.data(), w.data(), dx_dot.data(), data_mode);
        if (!w_dot.empty()) B::backward_data(g, dy.data(), w_dot.data(), dx_dot.data(), core::grad_mode::accumulate);
    }
    if (param_mode != core::grad_mode::none) {
        B::backward_weight(g, x_dot.data(), dy.data(), dw_dot.data(), param_mode);
        B::backward_weight(g, x.data(), dy_dot.data(), dw_dot.data(), core::grad_mode::accumulate);
        if (!db_dot.empty()) B::backward_bias(g.n, g.o, g.out_plane(), dy_dot.data(), db_dot.data(), param_mode);
    }
}

}  // namespace imbdef::ops
