#pragma once
// The CPU backend of ops::filtered_lrelu: two polyphase stages chained per tile of channel planes
// (the up-FIR feeding the down-FIR one activated row at a time, cpu/polyphase.hpp), so the
// activated buffer never exists beyond a few rows and stays in cache. The backward pass chains
// the transposed down-FIR into the transposed up-FIR the same way. Arguments are checked by the
// front end (ops/filtered_lrelu.hpp).

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../../core/grad_mode.hpp"
#include "../../core/parallel.hpp"
#include "../../core/scratch.hpp"
#include "../../core/tensor.hpp"
#include "../backend.hpp"
#include "../def/filtered_lrelu.hpp"
#include "polyphase.hpp"
#include "simd.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace imbdef::ops {

namespace detail {

// A filter view as a stage sees it; an empty view is the identity filter `one`.
template <class T>
polyphase::filter_ref<T> fir_filter_or_identity(core::const_view<T, core::cpu> f, const T* one) {
    if (f.empty()) return {one, 1, 1, true};
    if (f.rank() == 1) return {f.data(), f.size(0), f.size(0), true};
    return {f.data(), f.size(0), f.size(1), false};
}

// Narrows the lanes of v (values < 256) to bytes: out[p] = v[p].
template <class T>
IMBDEF_FORCEINLINE void narrow_to_bytes(const simd::umask_vec<T>& v, std::uint8_t* out) noexcept {
    constexpr index_t L = simd::lanes<T>;
#if defined(__AVX512F__)
    // vpmovdb / vpmovqb (the vector extension's conversion does not use them). The zero-masked
    // forms: the plain ones trip GCC 12's -Wmaybe-uninitialized in its own headers.
    __m512i wide;
    std::memcpy(&wide, &v, sizeof wide);
    const __m128i b = L == 16 ? _mm512_maskz_cvtepi32_epi8(0xFFFF, wide) : _mm512_maskz_cvtepi64_epi8(0xFF, wide);
    std::memcpy(out, &b, static_cast<std::size_t>(L));
#else
    for (index_t p = 0; p < L; ++p) out[p] = static_cast<std::uint8_t>(v[p]);
#endif
}

// Step 3 on one wide row of the activated buffer (filtered_lrelu_op::activate, one vector of L
// planes at a time), and, when mask is not null, the codes: byte k of the tile's planes at
// mask[k * 16] on (element x at bits 2 (x mod 4) of byte x / 4).
template <class T>
void lrelu_activate_row(T* IMBDEF_RESTRICT a, index_t n, T gain, T slope, T clamp, std::uint8_t* IMBDEF_RESTRICT mask) {
    namespace sv = simd;
    using V = sv::vec<T>;
    using M = sv::mask_vec<T>;
    using U = sv::umask_vec<T>;
    constexpr index_t L = sv::lanes<T>;
    constexpr index_t group = filtered_lrelu_geometry::mask_group;
    static_assert(L <= group, "a tile's mask bytes fit in one group");
    const V g = V{} + gain, s = V{} + slope, c = V{} + clamp, mc = V{} - clamp;
    U packed{};
    for (index_t x = 0; x < n; ++x) {
        V v;
        sv::load(v, a + x * L);
        v *= g;
        const M neg = v < T(0);
        v = neg ? v * s : v;
        const M above = v > c;
        const M below = v < mc;
        v = above ? c : v;
        v = below ? mc : v;
        sv::store(a + x * L, v);
        if (!mask) continue;
        const U code = __builtin_convertvector((neg & 1) | ((above | below) & 2), U);
        packed |= code << static_cast<unsigned>(2 * (x % 4));
        if (x % 4 == 3 || x == n - 1) {
            narrow_to_bytes<T>(packed, mask + (x / 4) * group);
            packed = U{};
        }
    }
}

// g *= the derivative of step 3 (filtered_lrelu_op::derivative) on one wide row of n samples,
// with the codes read from the mask bytes laid out as lrelu_activate_row writes them.
template <class T>
void lrelu_apply_mask_row(T* IMBDEF_RESTRICT g, index_t n, const std::uint8_t* IMBDEF_RESTRICT mask, T gain, T slope) {
    namespace sv = simd;
    using V = sv::vec<T>;
    using U = sv::umask_vec<T>;
    constexpr index_t L = sv::lanes<T>;
    constexpr index_t group = filtered_lrelu_geometry::mask_group;
    using bytes = sv::vec_n<std::uint8_t, static_cast<std::size_t>(L)>;
    const V pos = V{} + gain, neg = V{} + gain * slope, zero{};
    for (index_t k = 0; 4 * k < n; ++k) {
        bytes b;
        std::memcpy(&b, mask + k * group, sizeof b);
        const U packed = __builtin_convertvector(b, U);
        for (index_t j = 0; j < 4 && 4 * k + j < n; ++j) {
            const U code = (packed >> static_cast<unsigned>(2 * j)) & 3u;
            V f = (code & 1u) != 0 ? neg : pos;
            f = (code & 2u) != 0 ? zero : f;
            T* row = g + (4 * k + j) * L;
            V v;
            sv::load(v, row);
            sv::store(row, v * f);
        }
    }
}

}  // namespace detail

template <>
struct backend<filtered_lrelu_op, core::cpu> {
    // No filtering at all (ToRGB: no filters, up = down = 1, no pads): the activation alone, plane
    // by plane in the tensor's own layout, without the two identity stages or the tile transposes.
    template <class T>
    static bool is_elementwise(core::const_view<T, core::cpu> fu, core::const_view<T, core::cpu> fd,
                               const filtered_lrelu_geometry& g) {
        auto identity = [](core::const_view<T, core::cpu> f) { return f.empty() || (f.numel() == 1 && f[0] == T(1)); };
        return identity(fu) && identity(fd) && g.up_x.up == 1 && g.up_y.up == 1 && g.down_x.down == 1 &&
               g.down_y.down == 1 && g.up_x.pad0 == 0 && g.up_y.pad0 == 0 && g.act_w == g.in_w && g.act_h == g.in_h &&
               g.out_w == g.in_w && g.out_h == g.in_h;
    }

    template <class T>
    static void forward_elementwise(core::const_view<T, core::cpu> x, core::const_view<T, core::cpu> b,
                                    core::view<T, core::cpu> y, core::view<std::uint8_t, core::cpu> mask,
                                    const filtered_lrelu_geometry& g, T gain, T slope, T clamp) {
        namespace sv = detail::simd;
        using V = sv::vec<T>;
        using M = sv::mask_vec<T>;
        using U = sv::umask_vec<T>;
        constexpr index_t L = sv::lanes<T>;
        constexpr index_t group = filtered_lrelu_geometry::mask_group;
        const index_t C = x.size(1), planes = x.size(0) * C, w = g.in_w;
        const T* xs = x.data();
        const T* bs = b.data();
        T* ys = y.data();
        std::uint8_t* ms = mask.empty() ? nullptr : mask.data();
        core::parallel_for(0, planes, 1, [&](index_t lo, index_t hi) {
            U shift;  // lane l's code goes to bits 2 (l mod 4) of its byte
            for (index_t l = 0; l < L; ++l) shift[l] = static_cast<std::remove_cvref_t<decltype(shift[0])>>(2 * (l % 4));
            const V vg = V{} + gain, vs = V{} + slope, vc = V{} + clamp, vmc = V{} - clamp;
            std::uint8_t bytes[L];
            for (index_t plane = lo; plane < hi; ++plane) {
                const T bias = bs[plane % C];
                const V vb = V{} + bias;
                for (index_t r = 0; r < g.in_h; ++r) {
                    const T* xr = xs + (plane * g.in_h + r) * w;
                    T* yr = ys + (plane * g.in_h + r) * w;
                    std::uint8_t* mr = ms ? ms + g.mask_byte(plane, r, 0) : nullptr;  // byte k at mr[k * group]
                    index_t i = 0;
                    for (; i + L <= w; i += L) {
                        V v;
                        sv::load(v, xr + i);
                        v = (v + vb) * vg;
                        const M neg = v < T(0);
                        v = neg ? v * vs : v;
                        const M above = v > vc;
                        const M below = v < vmc;
                        v = above ? vc : v;
                        v = below ? vmc : v;
                        sv::store(yr + i, v);
                        if (!mr) continue;
                        const U code = __builtin_convertvector((neg & 1) | ((above | below) & 2), U) << shift;
                        detail::narrow_to_bytes<T>(code, bytes);
                        for (index_t k = 0; k < L / 4; ++k)
                            mr[(i / 4 + k) * group] = static_cast<std::uint8_t>(bytes[4 * k] | bytes[4 * k + 1] |
                                                                                 bytes[4 * k + 2] | bytes[4 * k + 3]);
                    }
                    for (; i < w; i += 4) {  // the last columns, four (one mask byte) at a time
                        unsigned byte = 0;
                        for (index_t j = i; j < std::min(i + 4, w); ++j) {
                            unsigned char code = 0;
                            yr[j] = filtered_lrelu_op::activate(xr[j] + bias, gain, slope, clamp, code);
                            byte |= static_cast<unsigned>(code) << (2 * (j - i));
                        }
                        if (mr) mr[(i / 4) * group] = static_cast<std::uint8_t>(byte);
                    }
                }
            }
        });
    }

    template <class T>
    static void backward_elementwise(core::const_view<T, core::cpu> dy, core::const_view<std::uint8_t, core::cpu> mask,
                                     core::view<T, core::cpu> dx, core::view<T, core::cpu> db,
                                     core::grad_mode data_mode, core::grad_mode param_mode,
                                     const filtered_lrelu_geometry& g, T gain, T slope) {
        namespace sv = detail::simd;
        using V = sv::vec<T>;
        using U = sv::umask_vec<T>;
        using W = std::remove_cvref_t<decltype(U{}[0])>;
        constexpr index_t L = sv::lanes<T>;
        constexpr index_t group = filtered_lrelu_geometry::mask_group;
        const index_t N = dy.size(0), C = dy.size(1), planes = N * C, w = g.in_w;
        const bool want_db = param_mode != core::grad_mode::none;
        const bool want_dx = data_mode != core::grad_mode::none;
        core::scratch_scope<> scope;
        T* partial = want_db ? scope.allocate<T>(core::shape{planes}).data() : nullptr;
        const T* dys = dy.data();
        const std::uint8_t* ms = mask.data();
        T* dxs = want_dx ? dx.data() : nullptr;
        core::parallel_for(0, planes, 1, [&](index_t lo, index_t hi) {
            U shift;  // lane l's code sits at bits 2 l of the little-endian word of its L / 4 bytes
            for (index_t l = 0; l < L; ++l) shift[l] = static_cast<W>(2 * l);
            const V pos = V{} + gain, neg = V{} + gain * slope, zero{};
            for (index_t plane = lo; plane < hi; ++plane) {
                V sum{};
                T tail_sum = T(0);
                for (index_t r = 0; r < g.in_h; ++r) {
                    const T* gr = dys + (plane * g.in_h + r) * w;
                    T* dr = want_dx ? dxs + (plane * g.in_h + r) * w : nullptr;
                    const std::uint8_t* mr = ms + g.mask_byte(plane, r, 0);
                    index_t i = 0;
                    for (; i + L <= w; i += L) {
                        std::uint64_t word = 0;
                        for (index_t k = 0; k < L / 4; ++k) word |= std::uint64_t{mr[(i / 4 + k) * group]} << (8 * k);
                        const U code = ((U{} + static_cast<W>(word)) >> shift) & 3u;
                        V f = (code & 1u) != 0 ? neg : pos;
                        f = (code & 2u) != 0 ? zero : f;
                        V v;
                        sv::load(v, gr + i);
                        v *= f;
                        sum += v;
                        if (!dr) continue;
                        if (data_mode == core::grad_mode::accumulate) {
                            V a;
                            sv::load(a, dr + i);
                            v += a;
                        }
                        sv::store(dr + i, v);
                    }
                    for (; i < w; ++i) {
                        const auto code = static_cast<unsigned char>((mr[(i / 4) * group] >> (2 * (i % 4))) & 3u);
                        const T v = gr[i] * filtered_lrelu_op::derivative(code, gain, slope);
                        tail_sum += v;
                        if (dr) core::store_grad(dr[i], v, data_mode);
                    }
                }
                if (want_db) {
                    T s = tail_sum;
                    for (index_t l = 0; l < L; ++l) s += sum[l];
                    partial[plane] = s;
                }
            }
        });
        if (!want_db) return;
        T* dbs = db.data();
        for (index_t c = 0; c < C; ++c) {
            T s = T(0);
            for (index_t n = 0; n < N; ++n) s += partial[n * C + c];
            core::store_grad(dbs[c], s, param_mode);
        }
    }

    // y = filtered_lrelu(x, fu, fd, b); mask (may be empty) receives the codes. Empty filters are
    // the identity.
    template <class T>
    static void forward(core::const_view<T, core::cpu> x, core::const_view<T, core::cpu> fu,
                        core::const_view<T, core::cpu> fd, core::const_view<T, core::cpu> b,
                        core::view<T, core::cpu> y, core::view<std::uint8_t, core::cpu> mask,
                        const filtered_lrelu_geometry& g, const filtered_lrelu_params& p) {
        namespace pp = detail::polyphase;
        constexpr index_t L = pp::block<T>;
        const T one = T(1);
        const index_t C = x.size(1), planes = x.size(0) * C;
        core::scratch_scope<> scope;
        const double up = p.up;
        const pp::stage_plan<T> up_plan =
            pp::plan_stage<T>(g.up_x, g.up_y, pp::separate_if_rank1(detail::fir_filter_or_identity(fu, &one), scope),
                              p.flip_filter, up, up, scope);
        const pp::stage_plan<T> down_plan =
            pp::plan_stage<T>(g.down_x, g.down_y, pp::separate_if_rank1(detail::fir_filter_or_identity(fd, &one), scope),
                              p.flip_filter, 1.0, 1.0, scope);
        const T gain = static_cast<T>(p.gain), slope = static_cast<T>(p.slope), clamp = static_cast<T>(p.clamp);
        if (is_elementwise(fu, fd, g)) return forward_elementwise(x, b, y, mask, g, gain, slope, clamp);
        const index_t tiles = pp::tiles_of<T>(planes);
        const index_t bands = pp::bands_per_tile(tiles, g.out_h);
        const T* xs = x.data();
        const T* bs = b.data();
        T* ys = y.data();
        std::uint8_t* ms = mask.empty() ? nullptr : mask.data();
        core::parallel_for(0, tiles * bands, 1, [&](index_t lo, index_t hi) {
            core::scratch_scope<> task_scope;
            pp::stage<T> st_up(up_plan, task_scope);
            pp::stage<T> st_down(down_plan, task_scope);
            T* orow = task_scope.allocate<T>(core::shape{g.out_w * L}).data();
            const T* in_rows[L];
            T* out_rows[L];
            for (index_t task = lo; task < hi; ++task) {
                const index_t t = task / bands, band = task % bands;
                const index_t oy0 = g.out_h * band / bands, oy1 = g.out_h * (band + 1) / bands;
                // Neighbouring bands recompute the rows they share; each mask row has one writer.
                const index_t own0 = band == 0 ? 0 : oy0 * p.down;
                const index_t own1 = band == bands - 1 ? g.act_h : oy1 * p.down;
                const pp::tile_planes tp = pp::tile_of<T>(t, planes);
                pp::vec<T> bias;
                for (index_t q = 0; q < L; ++q) bias[q] = bs[tp.plane(q, planes) % C];
                st_up.restart();
                st_down.restart();
                auto x_rows = [&](index_t j, T* dst) {
                    for (index_t q = 0; q < L; ++q) in_rows[q] = xs + (tp.plane(q, planes) * g.in_h + j) * g.in_w;
                    pp::gather_row(in_rows, g.in_w, bias, dst);
                };
                auto activated_rows = [&](index_t r, T* dst) {
                    st_up.produce(r, x_rows, dst);
                    const bool write = ms && r >= own0 && r < own1;
                    detail::lrelu_activate_row(dst, g.act_w, gain, slope, clamp,
                                               write ? ms + g.mask_byte(tp.first, r, 0) : nullptr);
                };
                for (index_t oy = oy0; oy < oy1; ++oy) {
                    st_down.produce(oy, activated_rows, orow);
                    for (index_t q = 0; q < tp.valid; ++q) out_rows[q] = ys + ((tp.first + q) * g.out_h + oy) * g.out_w;
                    pp::scatter_row(orow, g.out_w, out_rows, tp.valid, false);
                }
            }
        });
    }

    // dx (under data_mode) and db (under param_mode) from dy and the mask of the forward pass.
    // dx may be empty under none; the input's plane size is in g.
    template <class T>
    static void backward(core::const_view<T, core::cpu> dy, core::const_view<T, core::cpu> fu,
                         core::const_view<T, core::cpu> fd, core::const_view<std::uint8_t, core::cpu> mask,
                         core::view<T, core::cpu> dx, core::view<T, core::cpu> db, core::grad_mode data_mode,
                         core::grad_mode param_mode, const filtered_lrelu_geometry& g,
                         const filtered_lrelu_params& p) {
        namespace pp = detail::polyphase;
        constexpr index_t L = pp::block<T>;
        const T one = T(1);
        const index_t N = dy.size(0), C = dy.size(1), planes = N * C;
        core::scratch_scope<> scope;
        const double up = p.up;
        // The transposed down-FIR (dy -> g3) and the transposed up-FIR (g2 -> dx): the adjoint
        // axes, the filters flipped.
        const pp::stage_plan<T> down_t = pp::plan_stage<T>(g.down_x.transposed(), g.down_y.transposed(),
                                                           pp::separate_if_rank1(detail::fir_filter_or_identity(fd, &one), scope),
                                                           !p.flip_filter, 1.0, 1.0, scope);
        const pp::stage_plan<T> up_t = pp::plan_stage<T>(g.up_x.transposed(), g.up_y.transposed(),
                                                         pp::separate_if_rank1(detail::fir_filter_or_identity(fu, &one), scope),
                                                         !p.flip_filter, up, up, scope);
        const T gain = static_cast<T>(p.gain), slope = static_cast<T>(p.slope);
        if (is_elementwise(fu, fd, g))
            return backward_elementwise(dy, mask, dx, db, data_mode, param_mode, g, gain, slope);
        const index_t tiles = pp::tiles_of<T>(planes);
        const index_t bands = pp::bands_per_tile(tiles, g.in_h);
        const bool want_db = param_mode != core::grad_mode::none;
        const bool want_dx = data_mode != core::grad_mode::none;
        // Per task, the sum of dx over its rows for each lane (plane).
        T* partial = want_db ? scope.allocate<T>(core::shape{tiles * bands * L}).data() : nullptr;
        const T* dys = dy.data();
        const std::uint8_t* ms = mask.data();
        T* dxs = want_dx ? dx.data() : nullptr;
        core::parallel_for(0, tiles * bands, 1, [&](index_t lo, index_t hi) {
            core::scratch_scope<> task_scope;
            pp::stage<T> st_down(down_t, task_scope);
            pp::stage<T> st_up(up_t, task_scope);
            T* orow = task_scope.allocate<T>(core::shape{g.in_w * L}).data();
            const T* in_rows[L];
            T* out_rows[L];
            const pp::vec<T> zero{};
            for (index_t task = lo; task < hi; ++task) {
                const index_t t = task / bands, band = task % bands;
                const index_t iy0 = g.in_h * band / bands, iy1 = g.in_h * (band + 1) / bands;
                const pp::tile_planes tp = pp::tile_of<T>(t, planes);
                st_down.restart();
                st_up.restart();
                auto dy_rows = [&](index_t j, T* dst) {
                    for (index_t q = 0; q < L; ++q) in_rows[q] = dys + (tp.plane(q, planes) * g.out_h + j) * g.out_w;
                    pp::gather_row(in_rows, g.out_w, zero, dst);
                };
                auto masked_rows = [&](index_t r, T* dst) {
                    st_down.produce(r, dy_rows, dst);
                    detail::lrelu_apply_mask_row(dst, g.act_w, ms + g.mask_byte(tp.first, r, 0), gain, slope);
                };
                pp::vec<T> sum{};
                for (index_t iy = iy0; iy < iy1; ++iy) {
                    st_up.produce(iy, masked_rows, orow);
                    if (want_db)
                        for (index_t i = 0; i < g.in_w; ++i) {
                            pp::vec<T> v;
                            detail::simd::load(v, orow + i * L);
                            sum += v;
                        }
                    if (want_dx) {
                        for (index_t q = 0; q < tp.valid; ++q)
                            out_rows[q] = dxs + ((tp.first + q) * g.in_h + iy) * g.in_w;
                        pp::scatter_row(orow, g.in_w, out_rows, tp.valid, data_mode == core::grad_mode::accumulate);
                    }
                }
                if (want_db) detail::simd::store(partial + task * L, sum);
            }
        });
        if (!want_db) return;
        T* dbs = db.data();
        for (index_t c = 0; c < C; ++c) {
            T s = T(0);
            for (index_t n = 0; n < N; ++n) {
                const index_t plane = n * C + c, t = plane / L, q = plane % L;
                for (index_t band = 0; band < bands; ++band) s += partial[(t * bands + band) * L + q];
            }
            core::store_grad(dbs[c], s, param_mode);
        }
    }
};

}  // namespace imbdef::ops
