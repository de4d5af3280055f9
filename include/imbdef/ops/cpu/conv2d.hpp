#pragma once
// The CPU backend of ops::conv2d: the three convolution primitives as GEMMs over shifted images
// (gemm.hpp, conv_operands.hpp). Arguments are checked by the front end (ops/conv2d.hpp). This
// header picks a path per call; each path is its own header:
// - conv2d_shifted.hpp: forward and the stride-1 data gradient over the shifted image (the default);
// - conv2d_col2im.hpp: the data gradient at other strides (dcol = W^T dy, scattered into dx);
// - conv2d_weight_grad.hpp: the weight gradient, one GEMM per tap over transposed images (the
//   default), summed over fixed partials so results do not depend on timing;
// - conv2d_gather.hpp: small outputs (at most 64 positions per sample: the discriminator's last
//   blocks), the forward and the weight gradient with operands gathered straight from x;
// - conv2d_dots.hpp: 1x1, stride-1, unpadded convolutions with at most dots_max input or output
//   channels (ToRGB, fromRGB), the forward with few outputs and the weight gradient as dot products.
// The scales are the hooks of the modulated convolution: in_scale [N, C] multiplies the input's
// channels, out_scale [N, O] the output's rows, dy_scale [N, O] the incoming gradient's channels.
// The paths' functions are declared inline, as they were as members of the backend: GCC inlines
// functions declared inline more readily, and moving them must not change what it inlines.

#include <algorithm>

#include "../../core/grad_mode.hpp"
#include "../../core/parallel.hpp"
#include "../../core/tensor.hpp"
#include "../backend.hpp"
#include "../def/conv2d.hpp"
#include "conv2d_col2im.hpp"
#include "conv2d_dots.hpp"
#include "conv2d_gather.hpp"
#include "conv2d_shifted.hpp"
#include "conv2d_weight_grad.hpp"

namespace imbdef::ops {

template <>
struct backend<conv2d_op, core::cpu> {
    using index_t = core::index_t;

    // y (+)= conv(x * in_scale, W) * out_scale (+ b): `add` accumulates onto y.
    template <class T>
    static void forward(const conv_geometry& g, const T* x, const T* w, const T* b, T* y, bool add,
                        const T* in_scale = nullptr, const T* out_scale = nullptr) {
        if (detail::dots_apply(g) && g.o <= detail::dots_max) {
            detail::forward_few_outputs(g, x, w, y, add, in_scale, out_scale);
        } else if (!in_scale && !out_scale && detail::gather_columns_apply<T>(g)) {
            detail::forward_gathered(g, x, w, y, add);
        } else {
            detail::forward_shifted(g, x, w, y, add, in_scale, out_scale);
        }
        if (b) add_bias(g.n, g.o, g.out_plane(), b, y);
    }

    // dx (under mode) = conv_transpose(dy * dy_scale, W) * dx_scale; dx_scale [N, C] (per sample
    // and input channel) is supported for stride 1 only.
    template <class T>
    static void backward_data(const conv_geometry& g, const T* dy, const T* w, T* dx, core::grad_mode mode,
                              const T* dy_scale = nullptr, const T* dx_scale = nullptr) {
        if (g.stride == 1) {
            detail::backward_data_shifted(g, dy, w, dx, mode, dy_scale, dx_scale);
        } else {
            detail::backward_data_col2im(g, dy, w, dx, mode, dy_scale);
        }
    }

    // The 1x1 path's test and dot products (conv2d_dots.hpp), which the modulated convolution's
    // backend calls too.
    static bool dots_apply(const conv_geometry& g) { return detail::dots_apply(g); }

    template <class T>
    static void sample_dots(const conv_geometry& g, const T* x, const T* dy, T* p) {
        detail::sample_dots(g, x, dy, p);
    }

    // dW (under mode) = sum_n (dy[n] * dy_scale) col(x * x_scale)[n]^T: per tap over transposed
    // images (conv2d_weight_grad.hpp), except for a 1x1 convolution with few input or output
    // channels (a sum of dot products) and for small outputs (one GEMM over gathered taps).
    template <class T>
    static void backward_weight(const conv_geometry& g, const T* x, const T* dy, T* dw, core::grad_mode mode,
                                const T* x_scale = nullptr, const T* dy_scale = nullptr) {
        if (g.n == 0) {  // no samples: a zero gradient
            for (index_t i = 0; i < g.o * g.ckk(); ++i) core::store_grad(dw[i], T(0), mode);
            return;
        }
        if (detail::dots_apply(g)) {
            detail::backward_weight_dots(g, x, dy, dw, mode, x_scale, dy_scale);
        } else if (!x_scale && detail::gather_taps_apply(g)) {
            detail::backward_weight_gathered(g, x, dy, dw, mode, dy_scale);
        } else {
            detail::backward_weight_taps(g, x, dy, dw, mode, x_scale, dy_scale);
        }
    }

    // db (under mode) = sum over samples and positions of dy.
    template <class T>
    static void backward_bias(index_t n, index_t channels, index_t positions, const T* dy, T* db, core::grad_mode mode) {
        core::parallel_for(0, channels, std::max<index_t>(1, 4096 / std::max<index_t>(1, n * positions)),
                           [&](index_t c0, index_t c1) {
                               for (index_t c = c0; c < c1; ++c) {
                                   T s = T(0);
                                   for (index_t i = 0; i < n; ++i) {
                                       const T* row = dy + (i * channels + c) * positions;
                                       for (index_t p = 0; p < positions; ++p) s += row[p];
                                   }
                                   core::store_grad(db[c], s, mode);
                               }
                           });
    }

    template <class T>
    static void add_bias(index_t n, index_t channels, index_t positions, const T* b, T* y) {
        core::parallel_for(0, n * channels, std::max<index_t>(1, 16384 / std::max<index_t>(1, positions)),
                           [&](index_t r0, index_t r1) {
                               for (index_t r = r0; r < r1; ++r) {
                                   const T bias = b[r % channels];
                                   T* row = y + r * positions;
                                   for (index_t p = 0; p < positions; ++p) row[p] += bias;
                               }
                           });
    }
};

}  // namespace imbdef::ops
