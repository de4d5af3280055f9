#pragma once
// Polyphase FIR resampling on the CPU, shared by upfirdn2d, filtered_lrelu and the blurs.
//
// Layout: planes in lanes. A tile is L = lanes<T> channel planes (16 floats, 8 doubles); a wide
// row holds one row of every plane of a tile, sample x of plane p at [x L + p]. Every operation
// below then works on whole vectors of L planes at once, whatever the image size: no shuffles
// along a row, no partly used vectors at the row ends, and long rows for the y pass.
//
// One axis computes y[o] = sum_k h[k] u[o * down + k - pad0], u the input with up - 1 zeros after
// each sample, h the effective taps (flipped and scaled by the gain). Only the taps that meet a
// real sample are ever multiplied, and only the outputs that are kept are computed:
// - along x, the outputs split into P = up / gcd(up, down) classes o = P i + c, and class c is a
//   plain correlation y_c[i] = sum_m h_c[m] x[Q i + base_c + m], Q = down / gcd(up, down),
//   h_c[m] = h[k0_c + up m], over the row extended by zeros on both sides (so no index is
//   bounds-checked); blocks of consecutive outputs keep their sums in registers over the taps;
// - along y, output row o is a weighted sum of whole (wide) input rows.
// A stage streams one tile: it produces output rows in increasing order and pulls each input row
// from a source exactly once, keeping only the rows still needed in a small ring, so the
// intermediate data of a chain of stages (filtered_lrelu) stays in the L1/L2 cache.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numeric>

#include "../../core/macros.hpp"
#include "../../core/scratch.hpp"
#include "../../core/shape.hpp"
#include "../def/upfirdn2d.hpp"
#include "simd.hpp"

namespace imbdef::ops::detail::polyphase {

using core::index_t;

namespace sv = detail::simd;
using sv::vec;

// Planes per tile, and the granule of every buffer length.
template <class T>
inline constexpr index_t block = sv::lanes<T>;

constexpr index_t round_up(index_t n, index_t m) noexcept { return (n + m - 1) / m * m; }

namespace kernel {

// Vector accumulators the target's register file holds comfortably: 32 zmm, 16 ymm or 16 xmm
// registers, half of them for sums, counted in 64-byte vectors.
#if defined(__AVX512F__)
inline constexpr int accumulators = 16;
#elif defined(__AVX__)
inline constexpr int accumulators = 4;
#else
inline constexpr int accumulators = 2;
#endif

// out[i + v L] (+)= sum_m w[m] * src[m][i + v L] for v < NV. The taps are spread over S sets of
// accumulators: NV * S independent sums hide the multiply-add latency even for short rows.
template <int NV, int S, bool Accumulate, class T>
IMBDEF_FORCEINLINE void chunk(T* IMBDEF_RESTRICT out, index_t i, const T* const* src, const T* w, int taps) {
    constexpr index_t L = block<T>;
    vec<T> acc[S][NV];
#pragma GCC unroll 16
    for (int s = 0; s < S; ++s)
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) acc[s][v] = vec<T>{};
    if constexpr (Accumulate) {
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) sv::load(acc[0][v], out + i + v * L);
    }
    int m = 0;
    for (; m + S <= taps; m += S) {
#pragma GCC unroll 16
        for (int s = 0; s < S; ++s) {
            const T wm = w[m + s];
            const T* p = src[m + s] + i;
#pragma GCC unroll 16
            for (int v = 0; v < NV; ++v) {
                vec<T> x;
                sv::load(x, p + v * L);
                acc[s][v] += wm * x;
            }
        }
    }
    for (; m < taps; ++m) {
        const T wm = w[m];
        const T* p = src[m] + i;
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) {
            vec<T> x;
            sv::load(x, p + v * L);
            acc[0][v] += wm * x;
        }
    }
#pragma GCC unroll 16
    for (int s = 1; s < S; ++s)
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) acc[0][v] += acc[s][v];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) sv::store(out + i + v * L, acc[0][v]);
}

constexpr int tap_sets(int nv) noexcept { return std::clamp(accumulators / nv, 1, 4); }

// The last r < R vectors of a row in one chunk.
template <int R, bool Accumulate, class T>
IMBDEF_FORCEINLINE void tail(int r, T* out, index_t i, const T* const* src, const T* w, int taps) {
    if constexpr (R > 0) {
        if (r == R)
            chunk<R, tap_sets(R), Accumulate>(out, i, src, w, taps);
        else
            tail<R - 1, Accumulate>(r, out, i, src, w, taps);
    }
}

}  // namespace kernel

// out[i] (+)= sum_m w[m] * src[m][i] for i in [0, n), n a multiple of block<T>: the multiply-add
// kernel of every pass. The sums stay in registers over all the taps.
template <bool Accumulate, class T>
void combine(T* IMBDEF_RESTRICT out, index_t n, const T* const* src, const T* w, int taps) {
    constexpr int C = std::min(kernel::accumulators, 8);
    constexpr index_t L = block<T>;
    index_t i = 0;
    for (; i + C * L <= n; i += C * L) kernel::chunk<C, 1, Accumulate>(out, i, src, w, taps);
    const int r = static_cast<int>((n - i) / L);
    if (r > 0) kernel::tail<C - 1, Accumulate>(r, out, i, src, w, taps);
}

// A filter as the backends see it: separable (taps along x, taps_y along y, the same when taps_y
// is null) or a full 2-D [fy, fx] filter.
template <class T>
struct filter_ref {
    const T* taps = nullptr;
    index_t fy = 1;
    index_t fx = 1;
    bool separable = true;
    const T* taps_y = nullptr;
};

// A 2-D filter that is an outer product a b^T (StyleGAN's setup_filter makes them from short 1-D
// filters) as a separable one: a into taps_y, b into taps_x, both [f.fy] and [f.fx] of scratch.
// Returns f unchanged when some tap differs from a_i b_j by more than a few roundings of T.
template <class T>
filter_ref<T> separate_if_rank1(const filter_ref<T>& f, core::scratch_scope<>& scratch) {
    if (f.separable) return f;
    const T* t = f.taps;
    index_t i0 = 0, j0 = 0;
    T big = T(0);
    for (index_t i = 0; i < f.fy; ++i)
        for (index_t j = 0; j < f.fx; ++j)
            if (std::abs(t[i * f.fx + j]) > big) {
                big = std::abs(t[i * f.fx + j]);
                i0 = i;
                j0 = j;
            }
    if (big == T(0)) return f;
    T* a = scratch.allocate<T>(core::shape{f.fy}).data();
    T* b = scratch.allocate<T>(core::shape{f.fx}).data();
    for (index_t i = 0; i < f.fy; ++i) a[i] = t[i * f.fx + j0];
    for (index_t j = 0; j < f.fx; ++j) b[j] = t[i0 * f.fx + j] / t[i0 * f.fx + j0];
    const T tolerance = 8 * std::numeric_limits<T>::epsilon() * big;
    for (index_t i = 0; i < f.fy; ++i)
        for (index_t j = 0; j < f.fx; ++j)
            if (!(std::abs(t[i * f.fx + j] - a[i] * b[j]) <= tolerance)) return f;
    return {b, f.fy, f.fx, true, a};
}

// The x axis of a stage (see the header comment). An extended row holds the input samples
// lo .. lo + ext - 1 (lo <= 0 <= in - 1 < lo + ext), zeros outside [0, in).
template <class T>
struct row_plan {
    index_t in = 0;
    index_t out = 0;
    index_t P = 1;
    index_t Q = 1;
    index_t lo = 0;
    index_t ext = 0;
    index_t Mmax = 1;   // most taps of any class (>= 1)
    index_t rows = 1;   // filter rows: 1 for a separable filter, Fy for a 2-D one
    index_t* n = nullptr;     // [P] outputs of class c
    int* taps = nullptr;      // [P] taps of class c
    index_t* base = nullptr;  // [P] class c's output i reads extended samples Q i + base[c] + m
    T* w = nullptr;           // [rows][P][Mmax]
};

// The y axis of a stage: for output row o, rows first[o] .. first[o] + count[o] - 1 with filter
// indices k_first[o] + up * m; w holds the separable taps.
template <class T>
struct col_plan {
    index_t in = 0;
    index_t out = 0;
    index_t up = 1;
    index_t Mmax = 1;
    index_t* first = nullptr;
    int* count = nullptr;
    index_t* k_first = nullptr;
    T* w = nullptr;  // [out][Mmax]
};

template <class T>
struct stage_plan {
    row_plan<T> x;
    col_plan<T> y;
    bool separable = true;
    index_t ring = 1;  // input rows kept
};

// Builds the x plan of axis `a`; tap(r, k) is the effective tap k of filter row r (already flipped
// and scaled).
template <class T, class Tap>
row_plan<T> plan_rows(const upfirdn_axis& a, index_t rows, const Tap& tap, core::scratch_scope<>& scratch) {
    row_plan<T> p;
    p.in = a.in;
    p.out = a.out();
    p.rows = rows;
    const index_t g = std::gcd<index_t, index_t>(a.up, a.down);
    p.P = a.up / g;
    p.Q = a.down / g;
    p.n = scratch.allocate<index_t>(core::shape{p.P}).data();
    p.taps = scratch.allocate<int>(core::shape{p.P}).data();
    p.base = scratch.allocate<index_t>(core::shape{p.P}).data();
    index_t* k0 = scratch.allocate<index_t>(core::shape{p.P}).data();
    index_t jmin = 0, jmax = a.in - 1;  // the extended row always holds the whole row
    p.Mmax = 1;
    for (index_t c = 0; c < p.P; ++c) {
        p.n[c] = c < p.out ? (p.out - 1 - c) / p.P + 1 : 0;
        k0[c] = detail::floor_modulo(a.pad0 - c * a.down, a.up);
        const index_t m = k0[c] < a.taps ? (a.taps - k0[c] + a.up - 1) / a.up : 0;
        p.taps[c] = static_cast<int>(p.n[c] > 0 ? m : 0);
        p.base[c] = detail::floor_divide(c * a.down + k0[c] - a.pad0, a.up);
        p.Mmax = std::max(p.Mmax, m);
        if (p.taps[c] > 0) {
            jmin = std::min(jmin, p.base[c]);
            jmax = std::max(jmax, p.Q * (p.n[c] - 1) + p.base[c] + m - 1);
        }
    }
    p.lo = jmin;
    p.ext = jmax - jmin + 1;
    for (index_t c = 0; c < p.P; ++c) p.base[c] -= p.lo;
    p.w = scratch.allocate<T>(core::shape{rows * p.P * p.Mmax}).data();
    for (index_t r = 0; r < rows; ++r)
        for (index_t c = 0; c < p.P; ++c)
            for (index_t m = 0; m < p.Mmax; ++m)
                p.w[(r * p.P + c) * p.Mmax + m] = m < p.taps[c] ? static_cast<T>(tap(r, k0[c] + a.up * m)) : T(0);
    return p;
}

// Builds the y plan of axis `a`; tap(k) is the effective separable tap k (unused for 2-D filters).
template <class T, class Tap>
col_plan<T> plan_cols(const upfirdn_axis& a, const Tap& tap, core::scratch_scope<>& scratch) {
    col_plan<T> p;
    p.in = a.in;
    p.out = a.out();
    p.up = a.up;
    p.Mmax = std::max<index_t>(1, (a.taps + a.up - 1) / a.up);
    p.first = scratch.allocate<index_t>(core::shape{p.out}).data();
    p.count = scratch.allocate<int>(core::shape{p.out}).data();
    p.k_first = scratch.allocate<index_t>(core::shape{p.out}).data();
    p.w = scratch.allocate<T>(core::shape{p.out * p.Mmax}).data();
    for (index_t o = 0; o < p.out; ++o) {
        const index_t q0 = o * a.down - a.pad0;  // upsampled position met by tap 0
        index_t k = detail::floor_modulo(-q0, a.up);
        index_t j = detail::floor_divide(q0 + k, a.up);
        if (j < 0) {  // skip the taps that fall before the first row
            k += -j * a.up;
            j = 0;
        }
        index_t cnt = 0;
        if (k < a.taps && j < a.in) cnt = std::min((a.taps - k + a.up - 1) / a.up, a.in - j);
        p.first[o] = j;
        p.count[o] = static_cast<int>(cnt);
        p.k_first[o] = k;
        for (index_t m = 0; m < p.Mmax; ++m)
            p.w[o * p.Mmax + m] = m < cnt ? static_cast<T>(tap(k + a.up * m)) : T(0);
    }
    return p;
}

// Plans a stage over axes (ax, ay) with filter f: effective taps flipped unless flip_filter, the
// x taps scaled by gain_x and the y taps by gain_y (a 2-D filter gets their product).
template <class T>
stage_plan<T> plan_stage(const upfirdn_axis& ax, const upfirdn_axis& ay, const filter_ref<T>& f, bool flip_filter,
                         double gain_x, double gain_y, core::scratch_scope<>& scratch) {
    stage_plan<T> s;
    s.separable = f.separable;
    const T* t = f.taps;
    const index_t fy = f.fy, fx = f.fx;
    if (f.separable) {
        const T* ty = f.taps_y ? f.taps_y : t;
        s.x = plan_rows<T>(ax, 1, [&](index_t, index_t k) {
            return static_cast<double>(t[flip_filter ? k : fx - 1 - k]) * gain_x;
        }, scratch);
        s.y = plan_cols<T>(ay, [&](index_t k) {
            return static_cast<double>(ty[flip_filter ? k : fy - 1 - k]) * gain_y;
        }, scratch);
    } else {
        const double g = gain_x * gain_y;
        s.x = plan_rows<T>(ax, fy, [&](index_t r, index_t k) {
            return static_cast<double>(flip_filter ? t[r * fx + k] : t[(fy - 1 - r) * fx + (fx - 1 - k)]) * g;
        }, scratch);
        s.y = plan_cols<T>(ay, [](index_t) { return 0.0; }, scratch);
    }
    index_t ring = 1;
    for (index_t o = 0; o < s.y.out; ++o) ring = std::max<index_t>(ring, s.y.count[o]);
    s.ring = ring;
    return s;
}

namespace kernel {

// R consecutive outputs i .. i + R - 1 of one class of the x pass, summed over K (extended row,
// filter row) pairs: out[(P (i + r) + c) L] = sum_k sum_m W[k][m] E[k][(Q (i + r) + m) L]. E[k]
// already points at the class's base sample.
template <int R, class T>
IMBDEF_FORCEINLINE void xblock(T* IMBDEF_RESTRICT out, index_t P, index_t c, index_t Q, index_t i, const T* const* E,
                               const T* const* W, int K, int taps) {
    constexpr index_t L = block<T>;
    vec<T> acc[R];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) acc[r] = vec<T>{};
    const index_t step = Q * L;
    for (int k = 0; k < K; ++k) {
        const T* e = E[k] + i * step;
        const T* w = W[k];
        for (int m = 0; m < taps; ++m) {
            const T wm = w[m];
            const T* em = e + m * L;
#pragma GCC unroll 16
            for (int r = 0; r < R; ++r) {
                vec<T> x;
                sv::load(x, em + r * step);
                acc[r] += wm * x;
            }
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) sv::store(out + (P * (i + r) + c) * L, acc[r]);
}

// The outputs i .. i + r - 1, r < R.
template <int R, class T>
IMBDEF_FORCEINLINE void xtail(int r, T* out, index_t P, index_t c, index_t Q, index_t i, const T* const* E,
                              const T* const* W, int K, int taps) {
    if constexpr (R > 0) {
        if (r == R)
            xblock<R>(out, P, c, Q, i, E, W, K, taps);
        else
            xtail<R - 1>(r, out, P, c, Q, i, E, W, K, taps);
    }
}

}  // namespace kernel

// The x pass: out (p.out samples of a wide row) = sum over k < K of extended row E[k] filtered by
// filter row wrow[k]. ptrs holds 2 K pointers of scratch.
template <class T>
void row_pass(const row_plan<T>& p, const T* const* E, const index_t* wrow, int K, T* IMBDEF_RESTRICT out,
              const T** ptrs) {
    constexpr index_t L = block<T>;
    constexpr int R = std::min(kernel::accumulators, 8);
    const T** Ec = ptrs;
    const T** Wc = ptrs + K;
    for (index_t c = 0; c < p.P; ++c) {
        const index_t n = p.n[c];
        const int taps = p.taps[c];
        if (taps == 0 || K == 0) {
            for (index_t i = 0; i < n; ++i) sv::store(out + (p.P * i + c) * L, vec<T>{});
            continue;
        }
        for (int k = 0; k < K; ++k) {
            Ec[k] = E[k] + p.base[c] * L;
            Wc[k] = p.w + (wrow[k] * p.P + c) * p.Mmax;
        }
        index_t i = 0;
        for (; i + R <= n; i += R) kernel::xblock<R>(out, p.P, c, p.Q, i, Ec, Wc, K, taps);
        if (i < n) kernel::xtail<R - 1>(static_cast<int>(n - i), out, p.P, c, p.Q, i, Ec, Wc, K, taps);
    }
}

// Streams one tile through a stage (see the header comment). Buffers come from the scratch scope
// given at construction; restart() before each tile.
template <class T>
class stage {
public:
    stage(const stage_plan<T>& p, core::scratch_scope<>& scratch) : p_(p) {
        constexpr index_t L = block<T>;
        ext_size_ = p.x.ext * L;
        interior_ = -p.x.lo * L;
        slot_size_ = p.separable ? p.x.out * L : ext_size_;
        ring_ = scratch.allocate<T>(core::shape{p.ring * slot_size_}).data();
        // Extended rows keep the zeros around their samples: written once, here.
        if (p.separable) {
            ext_ = scratch.allocate<T>(core::shape{ext_size_}).data();
            std::fill_n(ext_, ext_size_, T(0));
        } else {
            std::fill_n(ring_, p.ring * slot_size_, T(0));
        }
        const index_t k = std::max<index_t>(p.y.Mmax, 1);
        ptrs_ = scratch.allocate<const T*>(core::shape{3 * k}).data();
        wrow_ = scratch.allocate<index_t>(core::shape{k}).data();
    }

    // Starts a new tile.
    void restart() noexcept { next_ = std::numeric_limits<index_t>::min(); }

    // Output wide row oy (x.out samples) into out. src(j, dst) writes input wide row j (x.in
    // samples) into dst; rows are requested in increasing order, each at most once per tile,
    // and only rows some output row needs.
    template <class Source>
    void produce(index_t oy, Source&& src, T* IMBDEF_RESTRICT out) {
        constexpr index_t L = block<T>;
        const index_t first = p_.y.first[oy];
        const int cnt = p_.y.count[oy];
        const index_t last = first + cnt - 1;
        for (index_t j = std::max(next_, first); j <= last; ++j) {
            T* slot = ring_ + (j % p_.ring) * slot_size_;
            if (p_.separable) {
                src(j, ext_ + interior_);
                const T* e = ext_;
                const index_t zero = 0;
                row_pass(p_.x, &e, &zero, 1, slot, ptrs_);
            } else {
                src(j, slot + interior_);
            }
        }
        if (cnt > 0) next_ = std::max(next_, last + 1);
        if (cnt == 0) {
            std::fill_n(out, p_.x.out * L, T(0));
            return;
        }
        const T** rows = ptrs_ + 2 * p_.y.Mmax;
        for (int m = 0; m < cnt; ++m) rows[m] = ring_ + ((first + m) % p_.ring) * slot_size_;
        if (p_.separable) {
            combine<false>(out, p_.x.out * L, rows, p_.y.w + oy * p_.y.Mmax, cnt);
        } else {
            for (int m = 0; m < cnt; ++m) wrow_[m] = p_.y.k_first[oy] + p_.y.up * m;
            row_pass(p_.x, rows, wrow_, cnt, out, ptrs_);
        }
    }

private:
    const stage_plan<T>& p_;
    T* ring_ = nullptr;
    T* ext_ = nullptr;
    index_t ext_size_ = 0;
    index_t interior_ = 0;
    index_t slot_size_ = 0;
    const T** ptrs_ = nullptr;
    index_t* wrow_ = nullptr;
    index_t next_ = 0;
};

// Prefetches the sample `ahead` elements after p (an address computed as an integer: the next
// row may lie past the end of the tensor, where forming a pointer would be undefined).
template <class T>
IMBDEF_FORCEINLINE void prefetch_ahead(const T* p, index_t ahead, bool for_write) noexcept {
    const auto address = reinterpret_cast<std::uintptr_t>(p) + static_cast<std::uintptr_t>(ahead) * sizeof(T);
    if (for_write)
        __builtin_prefetch(reinterpret_cast<const void*>(address), 1);
    else
        __builtin_prefetch(reinterpret_cast<const void*>(address), 0);
}

// Transposes an L x L block in registers: rows v[p] become columns.
template <class T>
IMBDEF_FORCEINLINE void transpose(vec<T> (&v)[block<T>]) noexcept {
    constexpr index_t L = block<T>;
    // log2(L) rounds of the perfect shuffle: zip rows p and p + L/2 into rows 2p and 2p + 1.
    for (index_t round = 1; round < L; round *= 2) {
        vec<T> t[L];
#pragma GCC unroll 16
        for (index_t p = 0; p < L / 2; ++p) sv::zip<T>(v[p], v[p + L / 2], t[2 * p], t[2 * p + 1]);
#pragma GCC unroll 16
        for (index_t p = 0; p < L; ++p) v[p] = t[p];
    }
}

// One row of every plane of a tile into a wide row: dst[x L + p] = rows[p][x] + bias[p], x < w.
// The next row of each plane (rows[p] + w, where a row-major plane keeps it) is prefetched as this
// one is read: L streams at once are more than the hardware prefetcher follows.
template <class T>
void gather_row(const T* const* rows, index_t w, const vec<T>& bias, T* IMBDEF_RESTRICT dst) {
    constexpr index_t L = block<T>;
    index_t x = 0;
    for (; x + L <= w; x += L) {
        vec<T> v[L];
#pragma GCC unroll 16
        for (index_t p = 0; p < L; ++p) {
            sv::load(v[p], rows[p] + x);
            prefetch_ahead(rows[p] + x, w, false);
        }
        transpose<T>(v);
#pragma GCC unroll 16
        for (index_t q = 0; q < L; ++q) sv::store(dst + (x + q) * L, v[q] + bias);
    }
    for (; x < w; ++x)
        for (index_t p = 0; p < L; ++p) dst[x * L + p] = rows[p][x] + bias[p];
}

// A wide row back into the rows of the first `valid` planes of a tile: rows[p][x] = (or +=)
// src[x L + p], x < w.
template <class T>
void scatter_row(const T* IMBDEF_RESTRICT src, index_t w, T* const* rows, index_t valid, bool accumulate) {
    constexpr index_t L = block<T>;
    index_t x = 0;
    for (; x + L <= w; x += L) {
        vec<T> v[L];
#pragma GCC unroll 16
        for (index_t q = 0; q < L; ++q) sv::load(v[q], src + (x + q) * L);
        transpose<T>(v);
        for (index_t p = 0; p < valid; ++p) {
            prefetch_ahead(rows[p] + x, w, true);
            if (accumulate) {
                vec<T> a;
                sv::load(a, rows[p] + x);
                sv::store(rows[p] + x, a + v[p]);
            } else {
                sv::store(rows[p] + x, v[p]);
            }
        }
    }
    for (; x < w; ++x)
        for (index_t p = 0; p < valid; ++p) {
            if (accumulate)
                rows[p][x] += src[x * L + p];
            else
                rows[p][x] = src[x * L + p];
        }
}

// The planes of tile t: plane index of lane p (clamped to the last plane, so lanes past the end
// read real memory; their results are never stored) and how many lanes are real.
struct tile_planes {
    index_t first = 0;
    index_t valid = 0;
    index_t plane(index_t p, index_t planes) const noexcept { return std::min(first + p, planes - 1); }
};

template <class T>
tile_planes tile_of(index_t t, index_t planes) noexcept {
    const index_t first = t * block<T>;
    return {first, std::min(block<T>, planes - first)};
}

template <class T>
index_t tiles_of(index_t planes) noexcept {
    return (planes + block<T> - 1) / block<T>;
}

// Bands of output rows per tile: enough tasks to keep the pool busy when there are few tiles,
// independent of the thread count so that results do not depend on it.
inline index_t bands_per_tile(index_t tiles, index_t rows) {
    constexpr index_t target_tasks = 32;
    constexpr index_t min_rows = 8;
    if (tiles <= 0 || tiles >= target_tasks) return 1;
    const index_t want = (target_tasks + tiles - 1) / tiles;
    return std::clamp<index_t>(rows / min_rows, 1, want);
}

}  // namespace imbdef::ops::detail::polyphase
