#pragma once
// The 1x1 path of the CPU convolution (conv2d.hpp): a 1x1, stride-1, unpadded convolution with at
// most dots_max input or output channels (ToRGB, fromRGB) is too thin for the GEMM, which would
// pack all of x to compute a few rows. Chosen, before any other path, for the forward when the
// outputs are few (forward_few_outputs) and for the weight gradient either way (a sum of dot
// products, backward_weight_dots); its data gradient takes the GEMM paths.

#include <algorithm>
#include <type_traits>

#include "../../core/grad_mode.hpp"
#include "../../core/parallel.hpp"
#include "../../core/scratch.hpp"
#include "../../core/shape.hpp"
#include "../def/conv2d.hpp"
#include "gemm.hpp"

namespace imbdef::ops {

namespace detail {

using core::index_t;

// At most this many input or output channels take the dot-product weight gradient.
inline constexpr index_t dots_max = 4;

// Whether the weight gradient of g is a sum of dot products (sample_dots): a 1x1, stride-1,
// unpadded convolution with at most dots_max input or output channels (ToRGB, fromRGB).
inline bool dots_apply(const conv_geometry& g) {
    return g.kh == 1 && g.kw == 1 && g.stride == 1 && g.pad_h == 0 && g.pad_w == 0 && std::min(g.o, g.c) <= dots_max;
}

// acc[s][e] += sum over q = e (mod 16) of big[q] sm[s][q], for q < p and s < count.
template <class T>
inline void dot_lanes(index_t p, const T* big, const T* const* sm, index_t count, T (&acc)[dots_max][16]) {
    index_t q = 0;
#if IMBDEF_GEMM_AVX512
    if constexpr (std::is_same_v<T, float>) {
        __m512 a[dots_max];
        for (int s = 0; s < dots_max; ++s) a[s] = _mm512_setzero_ps();
        for (; q + 16 <= p; q += 16) {
            const __m512 b = _mm512_loadu_ps(big + q);
            for (int s = 0; s < dots_max; ++s)
                if (s < count) a[s] = _mm512_fmadd_ps(b, _mm512_loadu_ps(sm[s] + q), a[s]);
        }
        for (int s = 0; s < dots_max; ++s) _mm512_storeu_ps(acc[s], a[s]);
    }
#endif
    for (; q < p; ++q)
        for (index_t s = 0; s < count; ++s) acc[s][q % 16] += big[q] * sm[s][q];
}

// p[n][o][c] = sum_q dy[n, o, q] x[n, c, q] (dots_apply(g)): dot products along the contiguous
// positions, no transposition, each task owning a range of the larger channel count.
template <class T>
inline void sample_dots(const conv_geometry& g, const T* x, const T* dy, T* p) {
    constexpr int lanes = 16;
    const index_t q = g.in_plane();
    const bool few_o = g.o <= g.c;  // the small side is O (else C)
    const index_t small = few_o ? g.o : g.c, large = few_o ? g.c : g.o;
    core::parallel_for(0, large, std::max<index_t>(1, 16384 / std::max<index_t>(1, g.n * q)), [&](index_t l0,
                                                                                                  index_t l1) {
        for (index_t l = l0; l < l1; ++l)
            for (index_t n = 0; n < g.n; ++n) {
                const T* big = few_o ? x + (n * g.c + l) * q : dy + (n * g.o + l) * q;
                const T* sm[dots_max] = {};
                for (index_t s = 0; s < small; ++s) sm[s] = few_o ? dy + (n * g.o + s) * q : x + (n * g.c + s) * q;
                T acc[dots_max][lanes] = {};
                dot_lanes(q, big, sm, small, acc);
                for (index_t s = 0; s < small; ++s) {
                    T dot = T(0);
                    for (int e = 0; e < lanes; ++e) dot += acc[s][e];
                    const index_t o = few_o ? s : l, c = few_o ? l : s;
                    p[(n * g.o + o) * g.c + c] = dot;
                }
            }
    });
}

// wn[o * C + c] = W[o, c] in_scale[n, c] out_scale[n, o] (either scale may be null).
template <class T>
inline void fold_weights(const conv_geometry& g, const T* w, const T* in_scale, const T* out_scale, index_t n, T* wn) {
    for (index_t o = 0; o < g.o; ++o)
        for (index_t c = 0; c < g.c; ++c) {
            T f = w[o * g.c + c];
            if (in_scale) f *= in_scale[n * g.c + c];
            if (out_scale) f *= out_scale[n * g.o + o];
            wn[o * g.c + c] = f;
        }
}

#if IMBDEF_GEMM_AVX512
// One block of 64 positions: y[o][0:64] (+)= sum_c wn[o, c] x[c][0:64], rows q apart, o < outputs.
inline void few_outputs_block_f32(index_t channels, index_t outputs, index_t q, const float* wn, const float* x,
                                  float* y, bool add) {
    __m512 acc[dots_max][4];
    for (int o = 0; o < dots_max; ++o)
        for (int v = 0; v < 4; ++v) acc[o][v] = _mm512_setzero_ps();
    for (index_t c = 0; c < channels; ++c) {
        const float* xr = x + c * q;
        const __m512 x0 = _mm512_loadu_ps(xr), x1 = _mm512_loadu_ps(xr + 16), x2 = _mm512_loadu_ps(xr + 32),
                     x3 = _mm512_loadu_ps(xr + 48);
        for (int o = 0; o < dots_max; ++o) {
            if (o >= outputs) break;
            const __m512 f = _mm512_set1_ps(wn[o * channels + c]);
            acc[o][0] = _mm512_fmadd_ps(f, x0, acc[o][0]);
            acc[o][1] = _mm512_fmadd_ps(f, x1, acc[o][1]);
            acc[o][2] = _mm512_fmadd_ps(f, x2, acc[o][2]);
            acc[o][3] = _mm512_fmadd_ps(f, x3, acc[o][3]);
        }
    }
    for (int o = 0; o < dots_max; ++o) {
        if (o >= outputs) break;
        float* yr = y + o * q;
        for (int v = 0; v < 4; ++v) {
            const __m512 r = add ? _mm512_add_ps(_mm512_loadu_ps(yr + 16 * v), acc[o][v]) : acc[o][v];
            _mm512_storeu_ps(yr + 16 * v, r);
        }
    }
}
#endif

// A 1x1 convolution with at most dots_max outputs (ToRGB): per sample, the weights with both
// scales folded in, and the input streamed once, 64 positions at a time, with no packing (the
// GEMM would pack all of x to compute a few rows).
template <class T>
inline void forward_few_outputs(const conv_geometry& g, const T* x, const T* w, T* y, bool add, const T* in_scale,
                                const T* out_scale) {
    constexpr index_t block = 64;
    const index_t q = g.in_plane();
    const index_t blocks = (q + block - 1) / block;
    core::parallel_for(0, g.n * blocks, std::max<index_t>(1, 16384 / std::max<index_t>(1, block * g.c)),
                       [&](index_t t0, index_t t1) {
                           core::scratch_scope scope;
                           T* wn = scope.allocate<T>(core::shape{g.o * g.c}).data();
                           index_t cached = -1;
                           for (index_t t = t0; t < t1; ++t) {
                               const index_t n = t / blocks, q0 = t % blocks * block;
                               const index_t len = std::min(block, q - q0);
                               if (n != cached) {
                                   fold_weights(g, w, in_scale, out_scale, n, wn);
                                   cached = n;
                               }
                               const T* xn = x + n * g.c * q + q0;
                               T* yn = y + n * g.o * q + q0;
#if IMBDEF_GEMM_AVX512
                               if constexpr (std::is_same_v<T, float>) {
                                   if (len == block) {
                                       few_outputs_block_f32(g.c, g.o, q, wn, xn, yn, add);
                                       continue;
                                   }
                               }
#endif
                               T acc[dots_max][block] = {};
                               for (index_t c = 0; c < g.c; ++c)
                                   for (index_t o = 0; o < g.o; ++o) {
                                       const T f = wn[o * g.c + c];
                                       for (index_t e = 0; e < len; ++e) acc[o][e] += f * xn[c * q + e];
                                   }
                               for (index_t o = 0; o < g.o; ++o)
                                   for (index_t e = 0; e < len; ++e)
                                       yn[o * q + e] = add ? yn[o * q + e] + acc[o][e] : acc[o][e];
                           }
                       });
}

// The weight gradient as a sum of dot products (dots_apply):
//   dW[o, c] = sum_n dy_scale[n, o] x_scale[n, c] p[n][o][c]   (sample_dots).
template <class T>
inline void backward_weight_dots(const conv_geometry& g, const T* x, const T* dy, T* dw, core::grad_mode mode,
                                 const T* x_scale, const T* dy_scale) {
    core::scratch_scope scope;
    T* p = scope.allocate<T>(core::shape{g.n * g.o * g.c}).data();
    sample_dots(g, x, dy, p);
    for (index_t o = 0; o < g.o; ++o)
        for (index_t c = 0; c < g.c; ++c) {
            T total = T(0);
            for (index_t n = 0; n < g.n; ++n) {
                T v = p[(n * g.o + o) * g.c + c];
                if (dy_scale) v *= dy_scale[n * g.o + o];
                if (x_scale) v *= x_scale[n * g.c + c];
                total += v;
            }
            core::store_grad(dw[o * g.c + c], total, mode);
        }
}

}  // namespace detail

}  // namespace imbdef::ops
