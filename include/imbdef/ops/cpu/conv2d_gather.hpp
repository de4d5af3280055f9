#pragma once
// The gathered paths of the CPU convolution (conv2d.hpp), for small outputs (at most 64 positions
// per sample: the discriminator's last blocks), where the copied layout's preparation and garbage
// columns, or the per-tap weight-gradient GEMMs and their partials, would cost more than the
// products: GEMM operands gathered straight from x.
// - forward, strided or padded (gather_columns_apply): B gathered straight from x, im2col-style,
//   over compactly numbered columns (gathered_columns, compact_tiles); chosen for a forward without
//   channel scales;
// - weight gradient (gather_taps_apply): one GEMM dW = dY col(x) over the batch's positions, C being
//   dW itself; each element is one reduction in a shape-only blocking, with no partials; chosen for
//   a weight gradient without an input scale.
// conv2d.hpp tries the 1x1 path (conv2d_dots.hpp) first.

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "../../core/grad_mode.hpp"
#include "../../core/scratch.hpp"
#include "../../core/shape.hpp"
#include "../def/conv2d.hpp"
#include "conv2d_prepack.hpp"
#include "gemm.hpp"

namespace imbdef::ops {

namespace detail {

using core::index_t;

// Small strided or padded convolutions (gather_columns_apply): B of the forward GEMM gathered
// straight from x, im2col-style, with the columns numbered compactly, n * OH OW + i OW + j. The
// copied layout would cost a preparation pass over x and (KW - 1) / s garbage columns per output
// row, a large share of the work when the output rows are a few positions long. The gathers pay
// off while x stays in the caches (up to about 1.5 MiB; D128.b16.conv1, 2.4 MiB, was 5-10% slower).
template <class T>
bool gather_columns_apply(const conv_geometry& g) {
    const bool direct = g.stride == 1 && g.oh == g.h && g.ow == g.w;
    const index_t elements = g.n * g.c * g.h * g.w;
    return !direct && g.out_plane() <= 64 && g.kh * g.kw <= 32 &&
           elements * index_t(sizeof(T)) <= (index_t{3} << 19);
}

template <class T>
struct gathered_columns {
    const T* x;
    conv_geometry g;

    void pack(index_t k0, index_t kc, index_t j0, index_t nc, T* dst) const {
        constexpr int nr = gemm::kernel_traits<T>::nr;
        const index_t kk2 = g.kh * g.kw, plane = g.out_plane(), cols = g.n * plane, hw = g.h * g.w;
        for (index_t jq = 0; jq < nc; jq += nr, dst += nr * kc) {
            alignas(64) std::int32_t base[nr];
            index_t ih0[nr], iw0[nr];
            std::uint32_t lanes = 0;
            for (int l = 0; l < nr; ++l) {
                const index_t col = j0 + jq + l;
                const index_t n = col / plane, q = col % plane;
                ih0[l] = (q / g.ow) * g.stride - g.pad_h;
                iw0[l] = (q % g.ow) * g.stride - g.pad_w;
                base[l] = static_cast<std::int32_t>(col < cols ? n * g.c * hw + ih0[l] * g.w + iw0[l] : 0);
                if (col < cols) lanes |= std::uint32_t{1} << l;
            }
            std::uint32_t tap_valid[32];
            for (index_t t = 0; t < kk2; ++t) {
                const index_t u = t / g.kw, v = t % g.kw;
                std::uint32_t m = 0;
                for (int l = 0; l < nr; ++l) {
                    const index_t ih = ih0[l] + u, iw = iw0[l] + v;
                    if (ih >= 0 && ih < g.h && iw >= 0 && iw < g.w) m |= std::uint32_t{1} << l;
                }
                tap_valid[t] = m & lanes;
            }
            index_t c = k0 / kk2, t = k0 % kk2;
            for (index_t kk = 0; kk < kc; ++kk) {
                const T* src = x + c * hw + (t / g.kw) * g.w + t % g.kw;
                const std::uint32_t m = tap_valid[t];
                T* d = dst + kk * nr;
#if IMBDEF_GEMM_AVX512
                if constexpr (std::is_same_v<T, float> && nr == 32) {
                    const __m512i i0 = _mm512_load_si512(base), i1 = _mm512_load_si512(base + 16);
                    _mm512_store_ps(d, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), static_cast<__mmask16>(m), i0, src, 4));
                    _mm512_store_ps(d + 16, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), static_cast<__mmask16>(m >> 16), i1,
                                                                     src, 4));
                } else
#endif
                {
                    for (int l = 0; l < nr; ++l) d[l] = (m >> l & 1u) ? src[base[l]] : T(0);
                }
                if (++t == kk2) {
                    t = 0;
                    ++c;
                }
            }
        }
    }
};

// C tiles of an NCHW output [N, rows, P] with the columns numbered n * P + q: one segment per sample.
template <class T>
struct compact_tiles {
    T* y;
    index_t rows;
    index_t plane;
    index_t columns;

    gemm::c_tile<T> tile(index_t i0, index_t j0) const {
        constexpr int nr = gemm::kernel_traits<T>::nr;
        gemm::c_tile<T> t;
        t.ptr = y + i0 * plane;
        t.ldc = plane;
        const index_t end = std::min<index_t>(j0 + nr, columns);
        for (index_t jj = j0; jj < end;) {
            const index_t n = jj / plane, q = jj % plane;
            const index_t run = std::min(plane - q, end - jj);
            t.seg[t.nseg++] = {static_cast<int>(jj - j0), static_cast<int>(run), n * rows * plane + q};
            jj += run;
        }
        return t;
    }
};

// y (+)= conv(x, W) over gathered columns (gather_columns_apply(g)): `add` accumulates onto y.
template <class T>
inline void forward_gathered(const conv_geometry& g, const T* x, const T* w, T* y, bool add) {
    core::scratch_scope scope;
    const auto a = prepack<T>(scope, g.o, g.ckk(), strided_pack<T>{w, g.ckk(), 1});
    const index_t cols = g.n * g.out_plane();
    gemm::run_parallel<T>(g.o, cols, g.ckk(), a, gathered_columns<T>{x, g},
                          compact_tiles<T>{y, g.o, g.out_plane(), cols}, add);
}

// The weight gradient of a small convolution (gather_taps_apply) as one GEMM over the whole batch:
//   dW [O x C KH KW] (+)= dY [O x N P] col(x) [N P x C KH KW],  k = n P + q, P = OH OW,
// dY prepacked (dy_rows), col(x) gathered from x per block (gathered_taps), C = dW itself. Each
// element of dW is one dot product over k in a blocking that depends on the shape only, so the
// result does not depend on the thread count, and no partials are needed.
inline bool gather_taps_apply(const conv_geometry& g) {
    return g.out_plane() <= 64 && g.kh <= 8 && g.kw <= 8 && g.n * g.c * g.h * g.w < (index_t{1} << 31) - 1;
}

template <class T>
struct dy_rows {
    const T* dy;
    const T* scale;  // [N, O] or null
    index_t o, plane;
    void operator()(index_t m0, index_t mc, index_t k0, index_t kc, T* dst, index_t panel_stride) const {
        constexpr int mr = gemm::kernel_traits<T>::mr;
        for (index_t p0 = 0; p0 < mc; p0 += mr, dst += panel_stride) {
            const index_t h = std::min<index_t>(mr, mc - p0);
            for (index_t r = 0; r < h; ++r) {
                const index_t row = m0 + p0 + r;
                index_t n = k0 / plane, q = k0 % plane;
                for (index_t kk = 0; kk < kc;) {
                    const index_t run = std::min(plane - q, kc - kk);
                    const T f = scale ? scale[n * o + row] : T(1);
                    const T* src = dy + (n * o + row) * plane + q;
                    for (index_t e = 0; e < run; ++e) dst[(kk + e) * mr + r] = f * src[e];
                    kk += run;
                    q = 0;
                    ++n;
                }
            }
        }
    }
};

template <class T>
struct gathered_taps {
    const T* x;
    conv_geometry g;

    void pack(index_t k0, index_t kc, index_t j0, index_t nc, T* dst) const {
        constexpr int nr = gemm::kernel_traits<T>::nr;
        const index_t kk2 = g.kh * g.kw, ckk = g.ckk(), plane = g.out_plane(), hw = g.h * g.w, chw = g.c * hw;
        for (index_t jq = 0; jq < nc; jq += nr, dst += nr * kc) {
            alignas(64) std::int32_t off[nr];
            std::uint32_t lu[8] = {}, lv[8] = {};
            for (int l = 0; l < nr; ++l) {
                const index_t tap = j0 + jq + l;
                off[l] = 0;
                if (tap >= ckk) continue;
                const index_t c = tap / kk2, t = tap % kk2, u = t / g.kw, v = t % g.kw;
                off[l] = static_cast<std::int32_t>(c * hw + u * g.w + v);
                lu[u] |= std::uint32_t{1} << l;
                lv[v] |= std::uint32_t{1} << l;
            }
            index_t n = k0 / plane, q = k0 % plane;
            index_t i = q / g.ow, j = q % g.ow;
            for (index_t kk = 0; kk < kc; ++kk) {
                const index_t ih0 = i * g.stride - g.pad_h, iw0 = j * g.stride - g.pad_w;
                std::uint32_t mu = 0, mv = 0;
                for (index_t u = 0; u < g.kh; ++u)
                    if (ih0 + u >= 0 && ih0 + u < g.h) mu |= lu[u];
                for (index_t v = 0; v < g.kw; ++v)
                    if (iw0 + v >= 0 && iw0 + v < g.w) mv |= lv[v];
                const std::uint32_t m = mu & mv;
                const T* src = x + n * chw + ih0 * g.w + iw0;
                T* d = dst + kk * nr;
#if IMBDEF_GEMM_AVX512
                if constexpr (std::is_same_v<T, float> && nr == 32) {
                    const __m512i i0 = _mm512_load_si512(off), i1 = _mm512_load_si512(off + 16);
                    _mm512_store_ps(d, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), static_cast<__mmask16>(m), i0, src, 4));
                    _mm512_store_ps(d + 16, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), static_cast<__mmask16>(m >> 16), i1,
                                                                     src, 4));
                } else
#endif
                {
                    for (int l = 0; l < nr; ++l) d[l] = (m >> l & 1u) ? src[off[l]] : T(0);
                }
                if (++j == g.ow) {
                    j = 0;
                    if (++i == g.oh) {
                        i = 0;
                        ++n;
                    }
                }
            }
        }
    }
};

// dW (under mode) = sum_n (dy[n] * dy_scale) col(x)[n]^T as one GEMM (gather_taps_apply(g)).
template <class T>
inline void backward_weight_gathered(const conv_geometry& g, const T* x, const T* dy, T* dw, core::grad_mode mode,
                                     const T* dy_scale) {
    if (mode == core::grad_mode::none) return;
    core::scratch_scope scope;
    const index_t k = g.n * g.out_plane(), ckk = g.ckk();
    const auto a = prepack<T>(scope, g.o, k, dy_rows<T>{dy, dy_scale, g.o, g.out_plane()});
    gemm::run_parallel<T>(g.o, ckk, k, a, gathered_taps<T>{x, g}, gemm::matrix_c<T>{dw, ckk, ckk},
                          mode == core::grad_mode::accumulate);
}

}  // namespace detail

}  // namespace imbdef::ops
