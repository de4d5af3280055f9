#pragma once
// The CPU kernels of the depthwise 3 x 3 stencils (def/stencil3x3.hpp): one output row at a time
// from three edge-extended input rows, the taps summed by the vector kernel of cpu/polyphase.hpp.

#include <algorithm>
#include <cmath>

#include "../../core/grad_mode.hpp"
#include "../../core/scratch.hpp"
#include "../../core/shape.hpp"
#include "../def/stencil3x3.hpp"
#include "polyphase.hpp"

namespace imbdef::ops::detail::stencil {

using core::index_t;
namespace pp = polyphase;

// out[i, j] = sum_{a, b} k[3 a + b] * src_e[i + off + a - 1, j + off + b - 1] for i < out_h,
// j < out_w, where src is h x w and src_e its extension under `border`. out rows are out_w apart.
// `store(i, row)` receives each output row (out_w values, padded).
template <class T, class Store>
void correlate_plane(const T* src, index_t h, index_t w, const stencil3x3& k, border_mode border, index_t out_h,
                     index_t out_w, index_t off, core::scratch_scope<>& scratch, Store&& store) {
    constexpr index_t B = pp::block<T>;
    // An extended row holds src_e[r, off - 1 .. off + out_w], padded for whole-vector reads.
    const index_t ext_w = pp::round_up(out_w + 2, B) + B;
    T* ext = scratch.allocate<T>(core::shape{3 * ext_w}).data();
    T* row = scratch.allocate<T>(core::shape{pp::round_up(out_w, B) + B}).data();
    T weights[9];
    const T* ptrs[9];
    int taps_used = 0;
    int tap_index[9];
    for (int t = 0; t < 9; ++t)
        if (k[static_cast<std::size_t>(t)] != 0.0) {
            weights[taps_used] = static_cast<T>(k[static_cast<std::size_t>(t)]);
            tap_index[taps_used++] = t;
        }
    auto sample_col = [&](index_t c) -> index_t {  // column of src for extended column c, -1: zero
        if (c >= 0 && c < w) return c;
        if (border == border_mode::zero) return -1;
        return std::clamp<index_t>(c, 0, w - 1);
    };
    auto fill = [&](T* dst, index_t r) {
        if (border == border_mode::replicate) r = std::clamp<index_t>(r, 0, h - 1);
        if (r < 0 || r >= h) {
            std::fill_n(dst, ext_w, T(0));
            return;
        }
        const T* s = src + r * w;
        const index_t c0 = off - 1;  // src column of dst[0]
        // Interior run copied straight, the edges through the border rule.
        const index_t lo = std::clamp<index_t>(-c0, 0, out_w + 2), hi = std::clamp<index_t>(w - c0, lo, out_w + 2);
        for (index_t j = 0; j < lo; ++j) {
            const index_t c = sample_col(c0 + j);
            dst[j] = c < 0 ? T(0) : s[c];
        }
        std::copy(s + c0 + lo, s + c0 + hi, dst + lo);
        for (index_t j = hi; j < out_w + 2; ++j) {
            const index_t c = sample_col(c0 + j);
            dst[j] = c < 0 ? T(0) : s[c];
        }
        std::fill(dst + out_w + 2, dst + ext_w, T(0));
    };
    const index_t n = pp::round_up(out_w, B);
    for (index_t i = 0; i < out_h; ++i) {
        for (index_t a = 0; a < 3; ++a) fill(ext + a * ext_w, i + off + a - 1);
        for (int t = 0; t < taps_used; ++t) ptrs[t] = ext + (tap_index[t] / 3) * ext_w + tap_index[t] % 3;
        if (taps_used > 0)
            pp::combine<false>(row, n, ptrs, weights, taps_used);
        else
            std::fill_n(row, n, T(0));
        store(i, row);
    }
}

inline stencil3x3 flipped(const stencil3x3& k) {
    stencil3x3 f;
    for (std::size_t t = 0; t < 9; ++t) f[t] = k[8 - t];
    return f;
}

// y (h x w) = the stencil k on x under `border`.
template <class T>
void forward_plane(const T* x, T* y, index_t h, index_t w, const stencil3x3& k, border_mode border,
                   core::scratch_scope<>& scratch) {
    correlate_plane<T>(x, h, w, k, border, h, w, 0, scratch, [&](index_t i, const T* row) {
        std::copy(row, row + w, y + i * w);
    });
}

// dx (h x w, under mode) += or = the adjoint of the stencil k under `border` applied to dy.
template <class T>
void adjoint_plane(const T* dy, T* dx, index_t h, index_t w, const stencil3x3& k, border_mode border,
                   core::grad_mode mode, core::scratch_scope<>& scratch) {
    const stencil3x3 kf = flipped(k);
    if (border == border_mode::zero) {
        correlate_plane<T>(dy, h, w, kf, border_mode::zero, h, w, 0, scratch, [&](index_t i, const T* row) {
            T* d = dx + i * w;
            if (mode == core::grad_mode::assign)
                std::copy(row, row + w, d);
            else
                for (index_t j = 0; j < w; ++j) d[j] += row[j];
        });
        return;
    }
    // Replicate: the full correlation over the extended (h + 2) x (w + 2) grid, then each extended
    // sample folded back onto the edge sample it copies.
    const index_t eh = h + 2, ew = w + 2;
    T* g = scratch.allocate<T>(core::shape{eh * ew}).data();
    correlate_plane<T>(dy, h, w, kf, border_mode::zero, eh, ew, -1, scratch, [&](index_t i, const T* row) {
        std::copy(row, row + ew, g + i * ew);
    });
    for (index_t i = 0; i < h; ++i) {
        T* d = dx + i * w;
        const index_t gi = i + 1;
        for (index_t j = 0; j < w; ++j) {
            T v = g[gi * ew + j + 1];
            if (j == 0) v += g[gi * ew];
            if (j == w - 1) v += g[gi * ew + ew - 1];
            if (i == 0) {
                v += g[j + 1];
                if (j == 0) v += g[0];
                if (j == w - 1) v += g[ew - 1];
            }
            if (i == h - 1) {
                const T* last = g + (eh - 1) * ew;
                v += last[j + 1];
                if (j == 0) v += last[0];
                if (j == w - 1) v += last[ew - 1];
            }
            core::store_grad(d[j], v, mode);
        }
    }
}

}  // namespace imbdef::ops::detail::stencil
