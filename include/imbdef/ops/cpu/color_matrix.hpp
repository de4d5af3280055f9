#pragma once
// The CPU backend of ops::color_matrix (def/color_matrix.hpp): (sample, pixel range) pieces over
// the pool, each a loop over pixels that the compiler vectorises.

#include <algorithm>

#include "../../core/grad_mode.hpp"
#include "../../core/parallel.hpp"
#include "../../core/tensor.hpp"
#include "../backend.hpp"
#include "../def/color_matrix.hpp"

namespace imbdef::ops {

template <>
struct backend<color_matrix_op, core::cpu> {
    // y = M x (+ b when with_offset): forward, and its tangent without the offset.
    template <class T>
    static void forward(core::const_view<T, core::cpu> x, core::const_view<T, core::cpu> matrix,
                        core::index_t matrix_stride, core::view<T, core::cpu> y, bool with_offset) {
        const core::index_t c = x.size(1);
        const T* ms = matrix.data();
        for_each_piece(x, [=, xs = x.data(), ys = y.data()](core::index_t s, core::index_t lo, core::index_t hi,
                                                             core::index_t plane) {
            const color_coefficients<T> k = color_matrix_op::coefficients(ms + s * matrix_stride, c == 1);
            const T* in = xs + s * c * plane;
            T* out = ys + s * c * plane;
            if (c == 1) {
                const T m = k.m[0], b = with_offset ? k.b[0] : T(0);
                for (core::index_t p = lo; p < hi; ++p) out[p] = m * in[p] + b;
                return;
            }
            const T* r = in;
            const T* g = in + plane;
            const T* bl = in + 2 * plane;
            for (int i = 0; i < 3; ++i) {
                const T m0 = k.m[3 * i], m1 = k.m[3 * i + 1], m2 = k.m[3 * i + 2];
                const T b = with_offset ? k.b[i] : T(0);
                T* o = out + i * plane;
                for (core::index_t p = lo; p < hi; ++p) o[p] = m0 * r[p] + m1 * g[p] + m2 * bl[p] + b;
            }
        });
    }

    // dx = M^T dy under mode.
    template <class T>
    static void backward(core::const_view<T, core::cpu> matrix, core::index_t matrix_stride,
                         core::const_view<T, core::cpu> dy, core::view<T, core::cpu> dx, core::grad_mode mode) {
        const core::index_t c = dy.size(1);
        const T* ms = matrix.data();
        for_each_piece(dy, [=, gs = dy.data(), ds = dx.data()](core::index_t s, core::index_t lo, core::index_t hi,
                                                              core::index_t plane) {
            const color_coefficients<T> k = color_matrix_op::coefficients(ms + s * matrix_stride, c == 1);
            const T* g = gs + s * c * plane;
            T* d = ds + s * c * plane;
            const bool acc = mode == core::grad_mode::accumulate;
            if (c == 1) {
                const T m = k.m[0];
                if (acc)
                    for (core::index_t p = lo; p < hi; ++p) d[p] += m * g[p];
                else
                    for (core::index_t p = lo; p < hi; ++p) d[p] = m * g[p];
                return;
            }
            for (int j = 0; j < 3; ++j) {
                const T m0 = k.m[j], m1 = k.m[3 + j], m2 = k.m[6 + j];
                T* o = d + j * plane;
                if (acc)
                    for (core::index_t p = lo; p < hi; ++p) o[p] += m0 * g[p] + m1 * g[plane + p] + m2 * g[2 * plane + p];
                else
                    for (core::index_t p = lo; p < hi; ++p) o[p] = m0 * g[p] + m1 * g[plane + p] + m2 * g[2 * plane + p];
            }
        });
    }

private:
    // Calls fn(sample, pixel_lo, pixel_hi, plane) over pieces of at most 2^13 pixels, at least
    // ~2^16 elements to a thread (less costs less than waking one).
    template <class T, class Fn>
    static void for_each_piece(core::const_view<T, core::cpu> x, const Fn& fn) {
        const core::index_t n = x.size(0), plane = x.size(2) * x.size(3);
        constexpr core::index_t piece = core::index_t{1} << 13;
        const core::index_t per_sample = std::max<core::index_t>(1, (plane + piece - 1) / piece);
        const core::index_t unit = std::max<core::index_t>(1, x.size(1) * plane / per_sample);
        const core::index_t grain = std::max<core::index_t>(1, (core::index_t{1} << 16) / unit);
        core::parallel_for(0, n * per_sample, grain, [&](core::index_t lo, core::index_t hi) {
            for (core::index_t u = lo; u < hi; ++u) {
                const core::index_t s = u / per_sample, q = u % per_sample;
                fn(s, plane * q / per_sample, plane * (q + 1) / per_sample, plane);
            }
        });
    }
};

}  // namespace imbdef::ops
