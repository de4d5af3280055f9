#pragma once
// The general weight gradient of the CPU convolution (conv2d.hpp): per tap (u, v), a GEMM over
// transposed images; each task sums its samples (or its band of rows) into its own partial, and
// the partials are added in a fixed order, so results do not depend on timing. Chosen for every
// weight gradient the 1x1 and gathered paths do not take.

#include <algorithm>

#include "../../core/grad_mode.hpp"
#include "../../core/parallel.hpp"
#include "../../core/scratch.hpp"
#include "../../core/shape.hpp"
#include "../def/conv2d.hpp"
#include "conv_operands.hpp"
#include "gemm.hpp"

namespace imbdef::ops {

namespace detail {

using core::index_t;

// dw[o, c, tap] (Mode) = p[tap][c][o] (by_c) or p[tap][o][c], in blocks of 16 along p's rows so
// that reads are runs of 16 and writes stay within a few lines.
template <core::grad_mode Mode, class T>
inline void permute_taps(const conv_geometry& g, const T* p, bool by_c, T* dw) {
    constexpr index_t block = 16;
    const index_t taps = g.kh * g.kw;
    const auto put = [](T& slot, T v) {
        if constexpr (Mode == core::grad_mode::assign)
            slot = v;
        else
            slot += v;
    };
    const index_t blocks = (g.o + block - 1) / block;
    core::parallel_for(0, blocks, std::max<index_t>(1, 4096 / std::max<index_t>(1, block * g.c * taps)),
                       [&](index_t b0, index_t b1) {
                           for (index_t ob = b0; ob < b1; ++ob) {
                               const index_t o0 = ob * block, o1 = std::min(g.o, o0 + block);
                               if (by_c) {  // p[tap][c][o]: runs over o
                                   for (index_t c = 0; c < g.c; ++c)
                                       for (index_t tap = 0; tap < taps; ++tap) {
                                           const T* src = p + (tap * g.c + c) * g.o;
                                           for (index_t o = o0; o < o1; ++o)
                                               put(dw[(o * g.c + c) * taps + tap], src[o]);
                                       }
                               } else {  // p[tap][o][c]: runs over c
                                   for (index_t o = o0; o < o1; ++o)
                                       for (index_t tap = 0; tap < taps; ++tap) {
                                           const T* src = p + (tap * g.o + o) * g.c;
                                           T* out = dw + o * g.c * taps + tap;
                                           for (index_t c = 0; c < g.c; ++c) put(out[c * taps], src[c]);
                                       }
                               }
                           }
                       });
}

// C[m x n] (+)= A B over kc steps for a read-in-place A and a packed B (kc x round_up(n, nr)),
// C row-major with n columns.
template <class T>
inline void tap_product(index_t m, index_t n, index_t kc, const gemm::a_block<T>& a, const T* b, T* c, bool add) {
    constexpr int mr = gemm::kernel_traits<T>::mr;
    constexpr int nr = gemm::kernel_traits<T>::nr;
    const gemm::matrix_c<T> out{c, n, n};
    for (index_t jr = 0; jr < n; jr += nr) {
        const gemm::c_tile<T> tile = out.tile(0, jr);
        for (index_t ir = 0; ir < m; ir += mr) {
            const int rows = static_cast<int>(std::min<index_t>(mr, m - ir));
            gemm::micro_kernel<T>(rows, kc, a.ptr + (ir / mr) * a.panel_stride, a.lda, b + jr * kc, tile, ir, add);
        }
    }
}

// dW (under mode) = sum_n (dy[n] * dy_scale) col(x * x_scale)[n]^T.
//
// x and dy are transposed (with their scales) over the padded-width positions of the copied
// layout (conv_operands.hpp), a group of samples side by side so that small images still give
// long reductions, and each tap (u, v) is one GEMM over the positions of the group:
//   dW[:, :, u, v]^T += X_ab(shifted)^T dy^T   (m = C, n = O)  when O pads to panels better, or
//   dW[:, :, u, v]   += dy X_ab(shifted)        (m = O, n = C)  otherwise.
// The operand that does not depend on the tap (dy) is packed once per block of positions and
// reused by all taps; the shifted one is read in place (first form) or packed per tap (second).
// Tasks own samples and sum into private partials, added in a fixed order at the end.
template <class T>
inline void backward_weight_taps(const conv_geometry& g, const T* x, const T* dy, T* dw, core::grad_mode mode,
                                 const T* x_scale, const T* dy_scale) {
    constexpr int nr = gemm::kernel_traits<T>::nr;
    constexpr int mr = gemm::kernel_traits<T>::mr;
    constexpr index_t lanes = nr > 16 ? nr : 16;
    const index_t taps = g.kh * g.kw;
    const conv::shifted_image im = conv::shifted_image::make<T>(g, false, true);
    const index_t kc_max = 256;
    const bool vector_o = gemm::round_up(g.o, nr) * g.c <= gemm::round_up(g.c, nr) * g.o;
    const index_t cp = gemm::round_up(g.c, vector_o ? 16 : lanes);
    const index_t op = gemm::round_up(g.o, vector_o ? lanes : 16);
    const index_t du = (g.kh - 1) / g.stride;  // extra input rows per block of output rows
    // Tasks own samples; with fewer samples than threads they own bands of output rows instead.
    // A fixed number of partials (not the thread count), so the sums do not depend on it.
    constexpr index_t k = core::reduction_partials;
    const index_t tasks = std::min<index_t>(k, std::max(g.n, std::min<index_t>(k, g.oh)));
    const bool by_rows = tasks > g.n;
    const index_t part = taps * g.o * g.c;

    core::scratch_scope scope;
    T* partial = scope.allocate<T>(core::shape{tasks * part}).data();
    core::parallel_for(0, tasks, 1, [&](index_t t0, index_t t1) {
        for (index_t task = t0; task < t1; ++task) {
            const index_t n_begin = by_rows ? 0 : g.n * task / tasks, n_end = by_rows ? g.n : g.n * (task + 1) / tasks;
            const index_t r_begin = by_rows ? g.oh * task / tasks : 0, r_end = by_rows ? g.oh * (task + 1) / tasks : g.oh;
            const index_t band = r_end - r_begin;
            // Samples side by side: enough for one block of positions, at most the task's.
            const index_t group = std::clamp<index_t>((kc_max + band * im.ws - 1) / (band * im.ws), 1, n_end - n_begin);
            const index_t pitch = group * im.ws;
            const conv::transposed_channels xt{g.c,  g.h,     g.w,  g.stride, g.pad_h, g.pad_w,
                                               band + du + 1, im.hs, im.ws, pitch,   cp,      r_begin};
            const conv::transposed_channels dt{g.o, g.oh, g.ow, 1, 0, 0, band, g.oh, im.ws, pitch, op, r_begin};
            const index_t positions = band * pitch;
            const index_t kc_block = gemm::balanced_block(positions, kc_max);
            core::scratch_scope inner;
            T* xbuf = inner.allocate<T>(core::shape{xt.size()}).data();
            T* dbuf = inner.allocate<T>(core::shape{dt.size()}).data();
            T* stage = inner.allocate<T>(core::shape{16 * im.ws}).data();
            T* bbuf = inner.allocate<T>(core::shape{kc_block * (vector_o ? op : cp)}).data();
            T* acc = partial + task * part;
            for (index_t n0 = n_begin; n0 < n_end; n0 += group) {
                const index_t members = std::min(group, n_end - n0);
                if (members < group) {  // columns of absent samples must read as zeros
                    std::fill_n(xbuf, xt.size(), T(0));
                    std::fill_n(dbuf, dt.size(), T(0));
                }
                for (index_t m = 0; m < members; ++m) {
                    const index_t n = n0 + m;
                    xt.run(x + n * g.c * g.h * g.w, x_scale ? x_scale + n * g.c : nullptr, m * im.ws, xbuf, stage);
                    dt.run(dy + n * g.o * g.out_plane(), dy_scale ? dy_scale + n * g.o : nullptr, m * im.ws, dbuf,
                           stage);
                }
                for (index_t k0 = 0; k0 < positions; k0 += kc_block) {
                    const index_t kc = std::min(kc_block, positions - k0);
                    const bool add = n0 > n_begin || k0 > 0;
                    if (vector_o) conv::transposed_rows<T>{dbuf, op, 0}.pack(k0, kc, 0, op, bbuf);
                    for (index_t u = 0; u < g.kh; ++u)
                        for (index_t v = 0; v < g.kw; ++v) {
                            const index_t s = g.stride;
                            const T* phase = xbuf + ((u % s) * s + v % s) * xt.phase_size();
                            const index_t shift = (u / s) * pitch + v / s;
                            T* c = acc + (u * g.kw + v) * g.o * g.c;
                            if (vector_o) {
                                tap_product<T>(g.c, g.o, kc, {phase + (k0 + shift) * cp, mr, cp}, bbuf, c, add);
                            } else {
                                conv::transposed_rows<T>{phase, cp, shift}.pack(k0, kc, 0, cp, bbuf);
                                tap_product<T>(g.o, g.c, kc, {dbuf + k0 * op, mr, op}, bbuf, c, add);
                            }
                        }
                }
            }
        }
    });
    // dW[o, c, u, v] (mode) = the sum of the partials, in task order, of partial[tap][c][o] (first
    // form) or partial[tap][o][c] (second): summed in memory order, then permuted in blocks.
    core::parallel_for(0, part, 4096, [&](index_t i0, index_t i1) {
        for (index_t task = 1; task < tasks; ++task)
            for (index_t i = i0; i < i1; ++i) partial[i] += partial[task * part + i];
    });
    switch (mode) {
        case core::grad_mode::assign: return permute_taps<core::grad_mode::assign>(g, partial, vector_o, dw);
        case core::grad_mode::accumulate: return permute_taps<core::grad_mode::accumulate>(g, partial, vector_o, dw);
        case core::grad_mode::none: return;
    }
}

}  // namespace detail

}  // namespace imbdef::ops
