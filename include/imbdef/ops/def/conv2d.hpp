#pragma once
// 2-D convolution, NCHW, as PyTorch's conv2d (a cross-correlation: the kernel is not flipped):
//   y[n, o, i, j] = b[o] + sum_{c, u, v} w[o, c, u, v] * x[n, c, i * stride + u - pad, j * stride + v - pad]
// with x read as 0 outside the image, x [N, C, H, W], w [O, C, KH, KW], y [N, O, OH, OW],
// OH = floor((H + 2 pad - KH) / stride) + 1 (OW likewise). A negative pad crops.
//
// This header is device-free: the tag, the parameters and the geometry both backends share.

#include <string>
#include <string_view>

#include "../../core/error.hpp"
#include "../../core/macros.hpp"
#include "../../core/shape.hpp"

namespace imbdef::ops {

struct conv2d_params {
    core::index_t stride = 1;
    core::index_t padding = 0;  // the same on all four sides
};

struct conv2d_op {
    static constexpr std::string_view name = "ops::conv2d";
};

// Floor division for a possibly negative numerator and a positive divisor.
IMBDEF_HD constexpr core::index_t floor_div(core::index_t a, core::index_t b) noexcept {
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// Output extent of one spatial axis; at most 0 when the kernel does not fit.
IMBDEF_HD constexpr core::index_t conv_output_size(core::index_t in, core::index_t k, core::index_t stride,
                                                   core::index_t pad) noexcept {
    return floor_div(in + 2 * pad - k, stride) + 1;
}

// Every extent of one convolution. Padding may differ between the axes (the data gradient of a
// stride-1 convolution is itself a convolution with padding K - 1 - pad per axis).
struct conv_geometry {
    core::index_t n = 0, c = 0, h = 0, w = 0;  // input
    core::index_t o = 0, kh = 0, kw = 0;       // weight [O, C, KH, KW]
    core::index_t stride = 1, pad_h = 0, pad_w = 0;
    core::index_t oh = 0, ow = 0;  // output

    IMBDEF_HD constexpr core::index_t in_plane() const noexcept { return h * w; }
    IMBDEF_HD constexpr core::index_t out_plane() const noexcept { return oh * ow; }
    IMBDEF_HD constexpr core::index_t ckk() const noexcept { return c * kh * kw; }

    static constexpr conv_geometry make(core::index_t n, core::index_t c, core::index_t h, core::index_t w,
                                        core::index_t o, core::index_t kh, core::index_t kw, core::index_t stride,
                                        core::index_t pad_h, core::index_t pad_w) noexcept {
        return {n, c, h, w, o, kh, kw, stride, pad_h, pad_w, conv_output_size(h, kh, stride, pad_h),
                conv_output_size(w, kw, stride, pad_w)};
    }

    // The data gradient of a stride-1 convolution as a convolution of dy (see conv2d.hpp).
    constexpr conv_geometry transposed() const noexcept {
        return make(n, o, oh, ow, c, kh, kw, 1, kh - 1 - pad_h, kw - 1 - pad_w);
    }
};

}  // namespace imbdef::ops
