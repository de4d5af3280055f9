#pragma once
// The default path of the CPU convolution (conv2d.hpp): forward, and the data gradient at stride 1,
// as GEMMs over the shifted image of the input (conv_operands.hpp), with taps k = (c, u, v) and
// output positions q:
// - forward:  y[n] = W col(x[n])                   (m = O, n = N x positions, k = C KH KW);
// - data gradient, stride 1: dx = conv(dy, W'), W'[c, o, u, v] = W[o, c, KH-1-u, KW-1-v], padding
//   K - 1 - pad: a forward convolution again       (m = C, n = N x H W, k = O KH KW).
// Chosen for every forward the 1x1 and gathered paths do not take, and for every stride-1 data
// gradient.

#include <algorithm>

#include "../../core/grad_mode.hpp"
#include "../../core/scratch.hpp"
#include "../../core/shape.hpp"
#include "../def/conv2d.hpp"
#include "conv2d_prepack.hpp"
#include "conv_operands.hpp"
#include "gemm.hpp"

namespace imbdef::ops {

namespace detail {

using core::index_t;

// W' [C, O, KH, KW] of the stride-1 data gradient as A: W'[c, o, u, v] = W[o, c, KH-1-u, KW-1-v].
template <class T>
struct weight_flipped {
    const T* w;
    conv_geometry g;
    void operator()(index_t m0, index_t mc, index_t k0, index_t kc, T* dst, index_t panel_stride) const {
        constexpr int mr = gemm::kernel_traits<T>::mr;
        const index_t kk2 = g.kh * g.kw;
        for (index_t p0 = 0; p0 < mc; p0 += mr, dst += panel_stride) {
            const index_t h = std::min<index_t>(mr, mc - p0);
            index_t o = k0 / kk2, t = k0 % kk2;
            for (index_t kk = 0; kk < kc; ++kk) {
                const T* src = w + (o * g.c + m0 + p0) * kk2 + (kk2 - 1 - t);  // tap (KH-1-u, KW-1-v)
                for (index_t r = 0; r < h; ++r) dst[kk * mr + r] = src[r * kk2];
                if (++t == kk2) {
                    t = 0;
                    ++o;
                }
            }
        }
    }
};

// The shifted image of x * scale (prepared into scope unless direct) and its tap offsets.
template <class T>
struct prepared_input {
    conv::shifted_image im;
    const T* img;
    const T* scale;  // for the packer: the scale of a direct image, null otherwise
    const index_t* taps;
};

template <class T>
prepared_input<T> prepare_input(core::scratch_scope<>& scope, const conv_geometry& g, const T* x, const T* scale,
                                bool per_sample_panels) {
    const conv::shifted_image im = conv::shifted_image::make<T>(g, per_sample_panels);
    const T* img = x;
    const T* packer_scale = scale;
    if (!im.direct) {
        T* buf = scope.allocate<T>(core::shape{im.buffer_size()}).data();
        im.prepare(x, scale, buf);
        img = buf;
        packer_scale = nullptr;
    }
    index_t* taps = scope.allocate<index_t>(core::shape{g.ckk()}).data();
    conv::tap_offsets(im, taps);
    return {im, img, packer_scale, taps};
}

// y (+)= A col(x * scale), A prepacked with m rows; rows scaled by row_scale.
template <class T>
void shifted_gemm(const prepared_input<T>& in, index_t m, const gemm::prepacked_a<T>& a, T* y, const T* row_scale,
                  bool add) {
    const conv::shifted_image& im = in.im;
    gemm::run_parallel<T>(m, im.columns(), im.g.ckk(), a, conv::shifted_columns<T>{in.img, in.taps, in.scale, im},
                          conv::shifted_tiles<T>{y, row_scale, m, im}, add);
}

// y (+)= conv(x * in_scale, W) * out_scale: `add` accumulates onto y.
template <class T>
inline void forward_shifted(const conv_geometry& g, const T* x, const T* w, T* y, bool add, const T* in_scale,
                            const T* out_scale) {
    core::scratch_scope scope;
    const auto in = prepare_input(scope, g, x, in_scale, out_scale != nullptr);
    const auto a = prepack<T>(scope, g.o, g.ckk(), strided_pack<T>{w, g.ckk(), 1});
    shifted_gemm(in, g.o, a, y, out_scale, add);
}

// dx (under mode) = conv_transpose(dy * dy_scale, W) * dx_scale at stride 1.
template <class T>
inline void backward_data_shifted(const conv_geometry& g, const T* dy, const T* w, T* dx, core::grad_mode mode,
                                  const T* dy_scale, const T* dx_scale) {
    const conv_geometry t = g.transposed();
    core::scratch_scope scope;
    const auto in = prepare_input(scope, t, dy, dy_scale, dx_scale != nullptr);
    const auto a = prepack<T>(scope, t.o, t.ckk(), weight_flipped<T>{w, g});
    shifted_gemm(in, t.o, a, dx, dx_scale, mode == core::grad_mode::accumulate);
}

}  // namespace detail

}  // namespace imbdef::ops
