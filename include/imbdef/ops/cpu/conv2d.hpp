#pragma once
// The CPU backend of ops::conv2d: the three convolution primitives as GEMMs over shifted images
// (gemm.hpp, conv_operands.hpp). Arguments are checked by the front end (ops/conv2d.hpp).
//
// With taps k = (c, u, v) and output positions q:
// - forward:  y[n] = W col(x[n])                   (m = O, n = N x positions, k = C KH KW);
// - data gradient, stride 1: dx = conv(dy, W'), W'[c, o, u, v] = W[o, c, KH-1-u, KW-1-v], padding
//   K - 1 - pad: a forward convolution again       (m = C, n = N x H W, k = O KH KW);
// - data gradient, other strides: dcol = W^T dy on chunks of 128 positions (which may span
//   samples), scattered (col2im) into dx, each task owning whole samples;
// - weight gradient: per tap (u, v), a GEMM over transposed images (backward_weight); each task
//   sums its samples (or its band of rows) into its own partial, and the partials are added in a
//   fixed order, so results do not depend on timing.
// Small outputs (at most 64 positions per sample: the discriminator's last blocks) take two other
// forms, where the copied layout's preparation and garbage columns, or the per-tap weight-gradient
// GEMMs and their partials, would cost more than the products:
// - forward, strided or padded (gather_columns_apply): B gathered straight from x, im2col-style,
//   over compactly numbered columns (gathered_columns, compact_tiles);
// - weight gradient (gather_taps_apply): one GEMM dW = dY col(x) over the batch's positions, C being
//   dW itself; each element is one reduction in a shape-only blocking, with no partials.
// The scales are the hooks of the modulated convolution: in_scale [N, C] multiplies the input's
// channels, out_scale [N, O] the output's rows, dy_scale [N, O] the incoming gradient's channels.

#include <algorithm>
#include <cstdint>

#include "../../core/grad_mode.hpp"
#include "../../core/parallel.hpp"
#include "../../core/scratch.hpp"
#include "../../core/tensor.hpp"
#include "../backend.hpp"
#include "../def/conv2d.hpp"
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

// A strided matrix as A (pack_a_strided), for prepack_a.
template <class T>
struct strided_pack {
    const T* a;
    index_t rs;
    index_t cs;
    void operator()(index_t m0, index_t mc, index_t k0, index_t kc, T* dst, index_t panel_stride) const {
        gemm::pack_a_strided(a, rs, cs, T(1), m0, mc, k0, kc, dst, panel_stride);
    }
};

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

template <class T, class Pack>
gemm::prepacked_a<T> prepack(core::scratch_scope<>& scope, index_t m, index_t k, const Pack& pack) {
    T* buf = scope.allocate<T>(core::shape{std::max<index_t>(1, gemm::prepacked_size<T>(m, k))}).data();
    return gemm::prepack_a<T>(m, k, pack, buf);
}

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

}  // namespace detail

template <>
struct backend<conv2d_op, core::cpu> {
    using index_t = core::index_t;

    // y (+)= conv(x * in_scale, W) * out_scale (+ b): `add` accumulates onto y.
    template <class T>
    static void forward(const conv_geometry& g, const T* x, const T* w, const T* b, T* y, bool add,
                        const T* in_scale = nullptr, const T* out_scale = nullptr) {
        if (dots_apply(g) && g.o <= dots_max) {
            forward_few_outputs(g, x, w, y, add, in_scale, out_scale);
            if (b) add_bias(g.n, g.o, g.out_plane(), b, y);
            return;
        }
        core::scratch_scope scope;
        if (!in_scale && !out_scale && detail::gather_columns_apply<T>(g)) {
            const auto a = detail::prepack<T>(scope, g.o, g.ckk(), detail::strided_pack<T>{w, g.ckk(), 1});
            const index_t cols = g.n * g.out_plane();
            gemm::run_parallel<T>(g.o, cols, g.ckk(), a, detail::gathered_columns<T>{x, g},
                                  detail::compact_tiles<T>{y, g.o, g.out_plane(), cols}, add);
            if (b) add_bias(g.n, g.o, g.out_plane(), b, y);
            return;
        }
        const auto in = detail::prepare_input(scope, g, x, in_scale, out_scale != nullptr);
        const auto a = detail::prepack<T>(scope, g.o, g.ckk(), detail::strided_pack<T>{w, g.ckk(), 1});
        detail::shifted_gemm(in, g.o, a, y, out_scale, add);
        if (b) add_bias(g.n, g.o, g.out_plane(), b, y);
    }

    // dx (under mode) = conv_transpose(dy * dy_scale, W) * dx_scale; dx_scale [N, C] (per sample
    // and input channel) is supported for stride 1 only.
    template <class T>
    static void backward_data(const conv_geometry& g, const T* dy, const T* w, T* dx, core::grad_mode mode,
                              const T* dy_scale = nullptr, const T* dx_scale = nullptr) {
        if (g.stride == 1) {
            const conv_geometry t = g.transposed();
            core::scratch_scope scope;
            const auto in = detail::prepare_input(scope, t, dy, dy_scale, dx_scale != nullptr);
            const auto a = detail::prepack<T>(scope, t.o, t.ckk(), detail::weight_flipped<T>{w, g});
            detail::shifted_gemm(in, t.o, a, dx, dx_scale, mode == core::grad_mode::accumulate);
        } else {
            backward_data_col2im(g, dy, w, dx, mode, dy_scale);
        }
    }

    // At most this many input or output channels take the dot-product weight gradient.
    static constexpr index_t dots_max = 4;

    // Whether the weight gradient of g is a sum of dot products (sample_dots): a 1x1, stride-1,
    // unpadded convolution with at most dots_max input or output channels (ToRGB, fromRGB).
    static bool dots_apply(const conv_geometry& g) {
        return g.kh == 1 && g.kw == 1 && g.stride == 1 && g.pad_h == 0 && g.pad_w == 0 && std::min(g.o, g.c) <= dots_max;
    }

    // p[n][o][c] = sum_q dy[n, o, q] x[n, c, q] (dots_apply(g)): dot products along the contiguous
    // positions, no transposition, each task owning a range of the larger channel count.
    template <class T>
    static void sample_dots(const conv_geometry& g, const T* x, const T* dy, T* p) {
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

    // dW (under mode) = sum_n (dy[n] * dy_scale) col(x * x_scale)[n]^T.
    //
    // x and dy are transposed (with their scales) over the padded-width positions of the copied
    // layout (conv_operands.hpp), a group of samples side by side so that small images still give
    // long reductions, and each tap (u, v) is one GEMM over the positions of the group:
    //   dW[:, :, u, v]^T += X_ab(shifted)^T dy^T   (m = C, n = O)  when O pads to panels better, or
    //   dW[:, :, u, v]   += dy X_ab(shifted)        (m = O, n = C)  otherwise.
    // The operand that does not depend on the tap (dy) is packed once per block of positions and
    // reused by all taps; the shifted one is read in place (first form) or packed per tap (second).
    // Tasks own samples and sum into private partials, added in a fixed order at the end. A 1x1
    // convolution with few input or output channels is a sum of dot products instead.
    template <class T>
    static void backward_weight(const conv_geometry& g, const T* x, const T* dy, T* dw, core::grad_mode mode,
                                const T* x_scale = nullptr, const T* dy_scale = nullptr) {
        constexpr int nr = gemm::kernel_traits<T>::nr;
        constexpr int mr = gemm::kernel_traits<T>::mr;
        constexpr index_t lanes = nr > 16 ? nr : 16;
        const index_t taps = g.kh * g.kw;
        if (g.n == 0) {  // no samples: a zero gradient
            for (index_t i = 0; i < g.o * g.ckk(); ++i) core::store_grad(dw[i], T(0), mode);
            return;
        }
        if (dots_apply(g)) {
            backward_weight_dots(g, x, dy, dw, mode, x_scale, dy_scale);
            return;
        }
        if (!x_scale && detail::gather_taps_apply(g)) {
            if (mode == core::grad_mode::none) return;
            core::scratch_scope scope;
            const index_t k = g.n * g.out_plane(), ckk = g.ckk();
            const auto a = detail::prepack<T>(scope, g.o, k, detail::dy_rows<T>{dy, dy_scale, g.o, g.out_plane()});
            gemm::run_parallel<T>(g.o, ckk, k, a, detail::gathered_taps<T>{x, g}, gemm::matrix_c<T>{dw, ckk, ckk},
                                  mode == core::grad_mode::accumulate);
            return;
        }
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

private:
    // dw[o, c, tap] (Mode) = p[tap][c][o] (by_c) or p[tap][o][c], in blocks of 16 along p's rows so
    // that reads are runs of 16 and writes stay within a few lines.
    template <core::grad_mode Mode, class T>
    static void permute_taps(const conv_geometry& g, const T* p, bool by_c, T* dw) {
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
    static void tap_product(index_t m, index_t n, index_t kc, const gemm::a_block<T>& a, const T* b, T* c, bool add) {
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

    // acc[s][e] += sum over q = e (mod 16) of big[q] sm[s][q], for q < p and s < count.
    template <class T>
    static void dot_lanes(index_t p, const T* big, const T* const* sm, index_t count, T (&acc)[dots_max][16]) {
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

    // A 1x1 convolution with at most dots_max outputs (ToRGB): per sample, the weights with both
    // scales folded in, and the input streamed once, 64 positions at a time, with no packing (the
    // GEMM would pack all of x to compute a few rows).
    template <class T>
    static void forward_few_outputs(const conv_geometry& g, const T* x, const T* w, T* y, bool add, const T* in_scale,
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

#if IMBDEF_GEMM_AVX512
    // One block of 64 positions: y[o][0:64] (+)= sum_c wn[o, c] x[c][0:64], rows q apart, o < outputs.
    static void few_outputs_block_f32(index_t channels, index_t outputs, index_t q, const float* wn, const float* x,
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

    // wn[o * C + c] = W[o, c] in_scale[n, c] out_scale[n, o] (either scale may be null).
    template <class T>
    static void fold_weights(const conv_geometry& g, const T* w, const T* in_scale, const T* out_scale, index_t n, T* wn) {
        for (index_t o = 0; o < g.o; ++o)
            for (index_t c = 0; c < g.c; ++c) {
                T f = w[o * g.c + c];
                if (in_scale) f *= in_scale[n * g.c + c];
                if (out_scale) f *= out_scale[n * g.o + o];
                wn[o * g.c + c] = f;
            }
    }

    // The weight gradient as a sum of dot products (dots_apply):
    //   dW[o, c] = sum_n dy_scale[n, o] x_scale[n, c] p[n][o][c]   (sample_dots).
    template <class T>
    static void backward_weight_dots(const conv_geometry& g, const T* x, const T* dy, T* dw, core::grad_mode mode,
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

    template <class T>
    static void backward_data_col2im(const conv_geometry& g, const T* dy, const T* w, T* dx, core::grad_mode mode,
                                     const T* dy_scale) {
        constexpr index_t nr = gemm::kernel_traits<T>::nr;
        const index_t taps = g.ckk();
        // dy as the B operand: a 1 x 1 convolution's column matrix is the image itself.
        const conv_geometry gy = conv_geometry::make(g.n, g.o, g.oh, g.ow, 0, 1, 1, 1, 0, 0);
        core::scratch_scope scope;
        const auto in = detail::prepare_input(scope, gy, dy, dy_scale, false);
        const index_t positions = in.im.positions;  // per sample; columns run over the batch
        const index_t chunk = 128;
        const auto a = detail::prepack<T>(scope, taps, g.o, detail::strided_pack<T>{w, 1, taps});
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
                                     detail::chunk_tiles<T>{dcol, chunk, j, len}, false);
                for (index_t t = 0; t < len;) {  // scatter, one sample at a time
                    const index_t n = (j + t) / positions, p0 = (j + t) % positions;
                    const index_t run = std::min(len - t, positions - p0);
                    scatter_columns(g, dcol + t, chunk, p0, run, dx + n * g.c * g.in_plane());
                    t += run;
                }
            }
        });
    }

    // col2im: dx[c, i s + u - pad, j s + v - pad] += dcol[(c, u, v)][position] for the positions
    // [p0, p0 + len) of one sample.
    template <class T>
    static void scatter_columns(const conv_geometry& g, const T* dcol, index_t ldc, index_t p0, index_t len, T* dxn) {
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

#if IMBDEF_GEMM_AVX512
    // scatter_columns for stride 2, W <= 32, OW <= 16, KW <= 8 (float): each whole output row of
    // the taps (c, u, 0..KW-1) is spread over one input row in registers and added with one pass;
    // rows cut by the chunk take the scalar path.
    static void scatter_rows_s2(const conv_geometry& g, const float* dcol, index_t ldc, index_t p0, index_t len,
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
};

}  // namespace imbdef::ops
