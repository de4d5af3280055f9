#pragma once
// The data gradient of the CPU convolution at strides other than 1 (conv2d.hpp): dcol = W^T dy on
// chunks of 128 positions (which may span samples), scattered (col2im) into dx, each task owning
// whole samples. Chosen for every data gradient with stride > 1.

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "../../core/grad_mode.hpp"
#include "../../core/parallel.hpp"
#include "../../core/scratch.hpp"
#include "../../core/shape.hpp"
#include "../def/conv2d.hpp"
#include "conv2d_prepack.hpp"
#include "conv2d_shifted.hpp"
#include "conv_operands.hpp"
#include "gemm.hpp"

namespace imbdef::ops {

namespace detail {

using core::index_t;

// C tiles of a chunk buffer [rows, ldc] holding the GEMM columns [base, base + valid).
template <class T>
struct chunk_tiles {
    T* buf;
    index_t ldc;
    index_t base;
    index_t valid;
    gemm::c_tile<T> tile(index_t i0, index_t j0) const {
        const index_t j = j0 - base;
        return gemm::c_tile<T>::contiguous(
            buf + i0 * ldc + j, ldc, static_cast<int>(std::clamp<index_t>(valid - j, 0, gemm::kernel_traits<T>::nr)));
    }
};

#if IMBDEF_GEMM_AVX512
// scatter_columns for stride 2, W <= 32, OW <= 16, KW <= 8 (float): each whole output row of
// the taps (c, u, 0..KW-1) is spread over one input row in registers and added with one pass;
// rows cut by the chunk take the scalar path.
inline void scatter_rows_s2(const conv_geometry& g, const float* dcol, index_t ldc, index_t p0, index_t len,
                            float* dxn) {
    const index_t ow = g.ow, w = g.w, pw = g.pad_w;
    __m512i idx[8][2];
    __mmask16 msk[8][2];
    for (index_t v = 0; v < g.kw; ++v)
        for (int h = 0; h < 2; ++h) {
            alignas(64) std::int32_t ix[16];
            std::uint32_t m = 0;
            for (int l = 0; l < 16; ++l) {
                const index_t lane = 16 * h + l, e2 = lane - v + pw;
                ix[l] = 0;
                if (lane < w && e2 >= 0 && e2 % 2 == 0 && e2 / 2 < ow) {
                    ix[l] = static_cast<std::int32_t>(e2 / 2);
                    m |= 1u << l;
                }
            }
            idx[v][h] = _mm512_load_si512(ix);
            msk[v][h] = static_cast<__mmask16>(m);
        }
    const __mmask16 wm0 = static_cast<__mmask16>(w >= 16 ? 0xFFFFu : (1u << w) - 1u);
    const __mmask16 wm1 = static_cast<__mmask16>(w >= 32 ? 0xFFFFu : w > 16 ? (1u << (w - 16)) - 1u : 0u);
    const __mmask16 om = static_cast<__mmask16>(ow >= 16 ? 0xFFFFu : (1u << ow) - 1u);
    for (index_t c = 0; c < g.c; ++c) {
        float* plane = dxn + c * g.in_plane();
        for (index_t u = 0; u < g.kh; ++u) {
            const float* src_u = dcol + (c * g.kh + u) * g.kw * ldc;
            index_t oi = p0 / ow, oj = p0 % ow;
            for (index_t t = 0; t < len;) {
                const index_t run = std::min(len - t, ow - oj);
                const index_t ih = oi * 2 + u - g.pad_h;
                if (ih >= 0 && ih < g.h) {
                    float* drow = plane + ih * w;
                    if (oj == 0 && run == ow) {
                        __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
                        for (index_t v = 0; v < g.kw; ++v) {
                            const __m512 sv = _mm512_maskz_loadu_ps(om, src_u + v * ldc + t);
                            acc0 = _mm512_add_ps(acc0, _mm512_maskz_permutexvar_ps(msk[v][0], idx[v][0], sv));
                            acc1 = _mm512_add_ps(acc1, _mm512_maskz_permutexvar_ps(msk[v][1], idx[v][1], sv));
                        }
                        _mm512_mask_storeu_ps(drow, wm0, _mm512_add_ps(_mm512_maskz_loadu_ps(wm0, drow), acc0));
                        if (wm1)
                            _mm512_mask_storeu_ps(drow + 16, wm1,
                                                  _mm512_add_ps(_mm512_maskz_loadu_ps(wm1, drow + 16), acc1));
                    } else {
                        for (index_t v = 0; v < g.kw; ++v) {
                            const float* srow = src_u + v * ldc + t - oj;
                            for (index_t j = oj; j < oj + run; ++j) {
                                const index_t iw = j * 2 + v - pw;
                                if (iw >= 0 && iw < w) drow[iw] += srow[j];
                            }
                        }
                    }
                }
                t += run;
                oj = 0;
                ++oi;
            }
        }
    }
}
#endif

// col2im: dx[c, i s + u - pad, j s + v - pad] += dcol[(c, u, v)][position] for the positions
// [p0, p0 + len) of one sample.
template <class T>
inline void scatter_columns(const conv_geometry& g, const T* dcol, index_t ldc, index_t p0, index_t len, T* dxn) {
    const index_t s = g.stride;
    // The output columns [j_lo[v], j_hi[v]) whose input column j s + v - pad_w is inside.
    const auto col_range = [&](index_t v, index_t& lo, index_t& hi) {
        const index_t a = g.pad_w - v, b = g.w - 1 + g.pad_w - v;
        lo = std::clamp<index_t>(a >= 0 ? (a + s - 1) / s : -(-a / s), 0, g.ow);
        hi = std::clamp<index_t>((b >= 0 ? b / s : -((-b + s - 1) / s)) + 1, lo, g.ow);
    };
#if IMBDEF_GEMM_AVX512
    if constexpr (std::is_same_v<T, float>) {
        if (s == 2 && g.w <= 32 && g.ow <= 16 && g.kw <= 8) {
            scatter_rows_s2(g, dcol, ldc, p0, len, dxn);
            return;
        }
    }
#endif
    index_t row = 0;
    for (index_t c = 0; c < g.c; ++c) {
        T* plane = dxn + c * g.in_plane();
        for (index_t u = 0; u < g.kh; ++u)
            for (index_t v = 0; v < g.kw; ++v, ++row) {
                const T* src = dcol + row * ldc;
                index_t j_lo, j_hi;
                col_range(v, j_lo, j_hi);
                index_t oi = p0 / g.ow, oj = p0 % g.ow;
                for (index_t t = 0; t < len;) {
                    const index_t run = std::min(len - t, g.ow - oj);
                    const index_t ih = oi * s + u - g.pad_h;
                    if (ih >= 0 && ih < g.h) {
                        T* drow = plane + ih * g.w + v - g.pad_w;
                        const T* srow = src + t - oj;
                        const index_t e1 = std::min(j_hi, oj + run);
                        for (index_t j = std::max(j_lo, oj); j < e1; ++j) drow[j * s] += srow[j];
                    }
                    t += run;
                    oj = 0;
                    ++oi;
                }
            }
    }
}

// dx (under mode) = conv_transpose(dy * dy_scale, W), stride > 1.
template <class T>
inline void backward_data_col2im(const conv_geometry& g, const T* dy, const T* w, T* dx, core::grad_mode mode,
                                 const T* dy_scale) {
    constexpr index_t nr = gemm::kernel_traits<T>::nr;
    const index_t taps = g.ckk();
    // dy as the B operand: a 1 x 1 convolution's column matrix is the image itself.
    const conv_geometry gy = conv_geometry::make(g.n, g.o, g.oh, g.ow, 0, 1, 1, 1, 0, 0);
    core::scratch_scope scope;
    const auto in = prepare_input(scope, gy, dy, dy_scale, false);
    const index_t positions = in.im.positions;  // per sample; columns run over the batch
    const index_t chunk = 128;
    const auto a = prepack<T>(scope, taps, g.o, strided_pack<T>{w, 1, taps});
    const conv::shifted_columns<T> b{in.img, in.taps, in.scale, in.im};
    // Each task owns whole samples (their dx) and walks their columns in chunks that may span
    // samples, so small images fill the micro-panels.
    core::parallel_for(0, g.n, 1, [&](index_t n0, index_t n1) {
        core::scratch_scope inner;
        T* dcol = inner.allocate<T>(core::shape{taps * chunk}).data();
        if (mode == core::grad_mode::assign) std::fill_n(dx + n0 * g.c * g.in_plane(), (n1 - n0) * g.c * g.in_plane(), T(0));
        for (index_t j = n0 * positions; j < n1 * positions; j += chunk) {
            const index_t len = std::min(chunk, n1 * positions - j);
            gemm::run_columns<T>(taps, g.o, j, j + gemm::round_up(len, nr), a, b,
                                 chunk_tiles<T>{dcol, chunk, j, len}, false);
            for (index_t t = 0; t < len;) {  // scatter, one sample at a time
                const index_t n = (j + t) / positions, p0 = (j + t) % positions;
                const index_t run = std::min(len - t, positions - p0);
                scatter_columns(g, dcol + t, chunk, p0, run, dx + n * g.c * g.in_plane());
                t += run;
            }
        }
    });
}

}  // namespace detail

}  // namespace imbdef::ops
