#pragma once
// ops::modulated_conv2d: StyleGAN3's modulated convolution (definition and gradients in
// def/modulated_conv2d.hpp). Generator only: no tangent rules.
//
//   modulated_conv2d(x, w, s, y, p)
//   modulated_conv2d_backward(x, w, s, y, dy, dx, dw, ds, data_mode, param_mode, p)
//
// Contract:
// - x [N, I, H, W], w [O, I, KH, KW], styles s [N, I], y [N, O, H + 2 pad - KH + 1, W + 2 pad - KW + 1]
//   (pad = p.padding, KH - 1 when unset; the output extents must be >= 1); eps > 0.
// - The backward takes the forward's output y (the demodulation term reads it; without
//   demodulation y is not read and may be empty).
// - dx and ds follow data_mode (the styles are activations of the affine layer), dw follows
//   param_mode; none leaves a buffer untouched (it may then be empty).
// - p.fused picks the evaluation (per-sample weights, or shared weights with channel scales); both
//   compute the same function and gradients up to rounding.
// - Outputs must not alias inputs. Errors name the op, the argument and both shapes.

#include <concepts>
#include <string>
#include <type_traits>

#include "../core/device.hpp"
#include "../core/error.hpp"
#include "../core/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "backend.hpp"
#include "check.hpp"
#include "conv2d.hpp"
#include "cpu/modulated_conv2d.hpp"
#include "def/modulated_conv2d.hpp"

namespace imbdef::ops {

namespace detail {

inline conv_geometry modconv_geometry(std::string_view op, const core::shape& x, const core::shape& w,
                                      const core::shape& s, const modulated_conv2d_params& p) {
    require_rank(op, "w", w, 4, "[O, I, KH, KW]");
    const core::index_t pad = p.padding ? *p.padding : w[2] - 1;
    const conv_geometry g = conv2d_geometry(op, x, w, conv2d_params{1, pad});
    require_shape_of(op, "s", s, "[N, I] of x", core::shape{g.n, g.c});
    IMBDEF_REQUIRE(p.eps > 0.0, std::string(op), "eps > 0", "eps " + std::to_string(p.eps));
    return g;
}

}  // namespace detail

template <std::floating_point T, core::device_tag Device>
void modulated_conv2d(std::type_identity_t<core::const_view<T, Device>> x,
                      std::type_identity_t<core::const_view<T, Device>> w,
                      std::type_identity_t<core::const_view<T, Device>> s, core::view<T, Device> y,
                      const modulated_conv2d_params& p = {}) {
    constexpr std::string_view op = "ops::modulated_conv2d";
    const conv_geometry g = detail::modconv_geometry(op, x.shape(), w.shape(), s.shape(), p);
    require_shape_of(op, "y", y.shape(), "conv(x, w)", detail::conv2d_output_shape(g));
    if (y.empty()) return;
    backend<modulated_conv2d_op, Device>::forward(g, x.data(), w.data(), s.data(), y.data(), p);
}

template <std::floating_point T, core::device_tag Device>
void modulated_conv2d_backward(std::type_identity_t<core::const_view<T, Device>> x,
                               std::type_identity_t<core::const_view<T, Device>> w,
                               std::type_identity_t<core::const_view<T, Device>> s,
                               std::type_identity_t<core::const_view<T, Device>> y,
                               std::type_identity_t<core::const_view<T, Device>> dy, core::view<T, Device> dx,
                               core::view<T, Device> dw, core::view<T, Device> ds, core::grad_mode data_mode,
                               core::grad_mode param_mode, const modulated_conv2d_params& p = {}) {
    constexpr std::string_view op = "ops::modulated_conv2d_backward";
    const conv_geometry g = detail::modconv_geometry(op, x.shape(), w.shape(), s.shape(), p);
    const core::shape ys = detail::conv2d_output_shape(g);
    require_shape_of(op, "dy", dy.shape(), "conv(x, w)", ys);
    if (p.demodulate) require_shape_of(op, "y", y.shape(), "conv(x, w)", ys);
    if (data_mode != core::grad_mode::none) {
        require_shape_of(op, "dx", dx.shape(), "x", x.shape());
        require_shape_of(op, "ds", ds.shape(), "s", s.shape());
    }
    if (param_mode != core::grad_mode::none) require_shape_of(op, "dw", dw.shape(), "w", w.shape());
    if (data_mode == core::grad_mode::none && param_mode == core::grad_mode::none) return;
    backend<modulated_conv2d_op, Device>::backward(g, x.data(), w.data(), s.data(), y.data(), dy.data(), dx.data(),
                                                   dw.data(), ds.data(), data_mode, param_mode, p);
}

}  // namespace imbdef::ops
