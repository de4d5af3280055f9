#pragma once
// The CPU backend of ops::grid_sample and its transpose (rules in def/grid_sample.hpp). Arguments
// are checked by the front end.
//
// Each output pixel's coordinates are computed once and applied to every channel. Pixels whose
// four taps lie inside the image (almost all of them under ADA's mild transforms) take a path
// without per-tap checks, pixels with no tap inside are 0 (or scatter nothing), and only the
// border pixels between go through the general taps. Forward: output rows (n, i) over the pool.
// Backward: the scatter-add is split by sample (all channels of a sample in one task) when there
// are at least as many samples as threads, else by (sample, channel) plane, so that no two tasks
// write the same plane.

#include <algorithm>

#include "../../core/grad_mode.hpp"
#include "../../core/parallel.hpp"
#include "../../core/tensor.hpp"
#include "../backend.hpp"
#include "../def/grid_sample.hpp"

namespace imbdef::ops {

namespace detail {

// One border pixel (some taps inside, some outside) for every channel, out of line so that the
// interior loop stays small.
template <class T>
[[gnu::noinline]] void grid_sample_border_pixel(const T* xn, T* yn, T ix, T iy, core::index_t c, core::index_t h,
                                                core::index_t w, core::index_t plane_out) {
    core::index_t off[4];
    T wt[4];
    bool in[4];
    grid_sample_op::taps(ix, iy, h, w, off, wt, in);
    for (core::index_t ch = 0; ch < c; ++ch) {
        const T* p = xn + ch * h * w;
        T acc = T(0);
        for (int k = 0; k < 4; ++k)
            if (in[k]) acc += wt[k] * p[off[k]];
        yn[ch * plane_out] = acc;
    }
}

template <class T>
[[gnu::noinline]] void grid_sample_border_scatter(const T* dy, T* d, T ix, T iy, core::index_t c, core::index_t h,
                                                  core::index_t w, core::index_t plane_out) {
    core::index_t off[4];
    T wt[4];
    bool in[4];
    grid_sample_op::taps(ix, iy, h, w, off, wt, in);
    for (core::index_t ch = 0; ch < c; ++ch) {
        T* p = d + ch * h * w;
        const T v = dy[ch * plane_out];
        for (int q = 0; q < 4; ++q)
            if (in[q]) p[off[q]] += wt[q] * v;
    }
}

// Output rows [lo, hi) of (sample, row) pairs. Channels is a compile-time constant for RGB and grey
// images (the loop over them unrolls; about 20% faster) and Channels = 0 takes it from c.
template <core::index_t Channels, class T>
void grid_sample_rows(const T* xs, const T* gs, T* ys, core::index_t c_runtime, core::index_t h, core::index_t w,
                      core::index_t ho, core::index_t wo, core::index_t lo, core::index_t hi) {
    const core::index_t c = Channels ? Channels : c_runtime;
    const core::index_t plane_in = h * w, plane_out = ho * wo;
    for (core::index_t row = lo; row < hi; ++row) {
        const core::index_t s = row / ho;
        const T* xn = xs + s * c * plane_in;
        T* yn = ys + s * c * plane_out + (row % ho) * wo;
        const T* g = gs + row * wo * 2;
        for (core::index_t j = 0; j < wo; ++j) {
            const T ix = grid_sample_op::unnormalize(g[2 * j], w);
            const T iy = grid_sample_op::unnormalize(g[2 * j + 1], h);
            if (grid_sample_op::interior(ix, iy, h, w)) {
                T fx, fy;
                const T* p = xn + grid_sample_op::interior_base(ix, iy, w, fx, fy);
                const T w00 = (T(1) - fx) * (T(1) - fy), w01 = fx * (T(1) - fy);
                const T w10 = (T(1) - fx) * fy, w11 = fx * fy;
                for (core::index_t ch = 0; ch < c; ++ch, p += plane_in)
                    yn[ch * plane_out + j] = w00 * p[0] + w01 * p[1] + w10 * p[w] + w11 * p[w + 1];
            } else if (grid_sample_op::outside(ix, iy, h, w)) {
                for (core::index_t ch = 0; ch < c; ++ch) yn[ch * plane_out + j] = T(0);
            } else {
                grid_sample_border_pixel(xn, yn + j, ix, iy, c, h, w, plane_out);
            }
        }
    }
}

// Scatter-adds `channels` planes of dy (plane_out pixels each, consecutive) into the matching
// planes of d along the taps of sample grid gp; Channels as in grid_sample_rows.
template <core::index_t Channels, class T>
void grid_sample_scatter(const T* gp, const T* dy, T* d, core::index_t channels_runtime, core::index_t h,
                         core::index_t w, core::index_t plane_out) {
    const core::index_t channels = Channels ? Channels : channels_runtime;
    const core::index_t plane_in = h * w;
    for (core::index_t k = 0; k < plane_out; ++k) {
        const T ix = grid_sample_op::unnormalize(gp[2 * k], w);
        const T iy = grid_sample_op::unnormalize(gp[2 * k + 1], h);
        if (grid_sample_op::interior(ix, iy, h, w)) {
            T fx, fy;
            T* p = d + grid_sample_op::interior_base(ix, iy, w, fx, fy);
            const T w00 = (T(1) - fx) * (T(1) - fy), w01 = fx * (T(1) - fy);
            const T w10 = (T(1) - fx) * fy, w11 = fx * fy;
            for (core::index_t ch = 0; ch < channels; ++ch, p += plane_in) {
                const T v = dy[ch * plane_out + k];
                p[0] += w00 * v;
                p[1] += w01 * v;
                p[w] += w10 * v;
                p[w + 1] += w11 * v;
            }
        } else if (!grid_sample_op::outside(ix, iy, h, w)) {
            grid_sample_border_scatter(dy + k, d, ix, iy, channels, h, w, plane_out);
        }
    }
}

}  // namespace detail

template <>
struct backend<grid_sample_op, core::cpu> {
    template <class T>
    static void forward(core::const_view<T, core::cpu> x, core::const_view<T, core::cpu> grid,
                        core::view<T, core::cpu> y) {
        const core::index_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
        const core::index_t ho = grid.size(1), wo = grid.size(2);
        const T* xs = x.data();
        const T* gs = grid.data();
        T* ys = y.data();
        const core::index_t grain = std::max<core::index_t>(1, (core::index_t{1} << 13) / std::max<core::index_t>(wo * c, 1));
        core::parallel_for(0, n * ho, grain, [=](core::index_t lo, core::index_t hi) {
            if (c == 3)
                detail::grid_sample_rows<3>(xs, gs, ys, c, h, w, ho, wo, lo, hi);
            else if (c == 1)
                detail::grid_sample_rows<1>(xs, gs, ys, c, h, w, ho, wo, lo, hi);
            else
                detail::grid_sample_rows<0>(xs, gs, ys, c, h, w, ho, wo, lo, hi);
        });
    }

    template <class T>
    static void backward(core::const_view<T, core::cpu> grid, core::const_view<T, core::cpu> dy,
                         core::view<T, core::cpu> dx, core::grad_mode mode) {
        const core::index_t n = dx.size(0), c = dx.size(1), h = dx.size(2), w = dx.size(3);
        const core::index_t plane_in = h * w, plane_out = grid.size(1) * grid.size(2);
        const bool by_sample = n >= core::num_threads();
        const core::index_t units = by_sample ? n : n * c;
        const core::index_t per_unit = by_sample ? c : 1;
        const T* gs = grid.data();
        const T* dys = dy.data();
        T* dxs = dx.data();
        const core::index_t grain =
            std::max<core::index_t>(1, (core::index_t{1} << 14) / std::max<core::index_t>(plane_out * per_unit, 1));
        core::parallel_for(0, units, grain, [=](core::index_t lo, core::index_t hi) {
            for (core::index_t u = lo; u < hi; ++u) {
                const core::index_t s = by_sample ? u : u / c;
                const core::index_t c0 = by_sample ? 0 : u % c;
                T* d = dxs + (s * c + c0) * plane_in;
                if (mode == core::grad_mode::assign) std::fill_n(d, per_unit * plane_in, T(0));
                const T* gp = gs + s * plane_out * 2;
                const T* g = dys + (s * c + c0) * plane_out;
                if (per_unit == 3)
                    detail::grid_sample_scatter<3>(gp, g, d, per_unit, h, w, plane_out);
                else if (per_unit == 1)
                    detail::grid_sample_scatter<1>(gp, g, d, per_unit, h, w, plane_out);
                else
                    detail::grid_sample_scatter<0>(gp, g, d, per_unit, h, w, plane_out);
            }
        });
    }
};

}  // namespace imbdef::ops
