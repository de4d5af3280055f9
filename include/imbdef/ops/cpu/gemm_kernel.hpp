#pragma once
// The register-blocked micro-kernels of the CPU GEMM core (gemm.hpp).
//
// A micro-kernel computes one tile of rows x nr (rows <= mr) of the product of an A micro-panel and
// a packed B micro-panel over kc steps of the reduction:
//   A panel: element (r, k) at a[k * lda + r] (lda = mr when packed; larger when A is read in place);
//   B panel: element (k, j) at b[k * nr + j], nr = kernel_traits<T>::nr, unused columns zero;
// and updates the tile's destination (c_tile) row by row:
//   c (+)= s_r * sum_k a(r, k) b(k, j),   s_r = row_scale ? row_scale[r] : 1,
// adding when `add`, overwriting otherwise (overwriting never reads the destination).
//
// float on an AVX-512 build (-march=native on a machine with AVX-512F, as IMBDEF_NATIVE gives)
// uses 14 x 32 tiles held in 28 zmm accumulators: each k step is 2 vector loads of B, 14 broadcasts
// of A and 28 FMAs, so the two FMA pipes, not the loads, set the pace. Every other (T, target)
// uses a portable kernel over a small tile that the compiler vectorises.

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "../../core/macros.hpp"
#include "../../core/shape.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#define IMBDEF_GEMM_AVX512 1
#else
#define IMBDEF_GEMM_AVX512 0
#endif

namespace imbdef::ops::gemm {

using core::index_t;

// The tile of a micro-kernel: mr rows (the broadcast side) by nr columns (the vector side).
template <class T>
struct kernel_traits {
    static constexpr int mr = 4;
    static constexpr int nr = 64 / int(sizeof(T));  // one cache line per packed B row
};

#if IMBDEF_GEMM_AVX512
template <>
struct kernel_traits<float> {
    static constexpr int mr = 14;
    static constexpr int nr = 32;
};
#endif

// Where a tile's rows go. Row r of the tile starts at ptr + r * ldc; its nr columns are split into
// segments, lanes [lane, lane + len) of segment s going to ptr + r * ldc + offset + (l - lane).
// Lanes in no segment are dropped. A plain matrix tile is one segment at lane 0, offset 0.
template <class T>
struct c_tile {
    struct segment {
        int lane = 0;
        int len = 0;
        index_t offset = 0;
    };
    T* ptr = nullptr;
    index_t ldc = 0;
    const T* row_scale = nullptr;  // per tile row, or null
    int nseg = 0;
    segment seg[kernel_traits<T>::nr];

    static c_tile contiguous(T* p, index_t ld, int ncols, const T* scale = nullptr) {
        c_tile t;
        t.ptr = p;
        t.ldc = ld;
        t.row_scale = scale;
        if (ncols > 0) t.seg[t.nseg++] = {0, ncols, 0};
        return t;
    }
    bool is_contiguous() const noexcept { return nseg == 1 && seg[0].lane == 0 && seg[0].offset == 0; }
};

namespace detail {

// Portable kernel: any T; rows fixed at compile time so the accumulators can stay in registers.
template <class T, int Rows>
void micro_kernel_portable(index_t kc, const T* IMBDEF_RESTRICT a, index_t lda, const T* IMBDEF_RESTRICT b,
                           const c_tile<T>& t, index_t row0, bool add) {
    constexpr int nr = kernel_traits<T>::nr;
    T acc[Rows][nr] = {};
    for (index_t k = 0; k < kc; ++k) {
        const T* bk = b + k * nr;
        const T* ak = a + k * lda;
        for (int r = 0; r < Rows; ++r) {
            const T ar = ak[r];
            for (int j = 0; j < nr; ++j) acc[r][j] += ar * bk[j];
        }
    }
    for (int r = 0; r < Rows; ++r) {
        const T s = t.row_scale ? t.row_scale[row0 + r] : T(1);
        T* row = t.ptr + (row0 + r) * t.ldc;
        for (int g = 0; g < t.nseg; ++g) {
            const auto& sg = t.seg[g];
            T* d = row + sg.offset - sg.lane;
            if (add)
                for (int l = sg.lane; l < sg.lane + sg.len; ++l) d[l] += s * acc[r][l];
            else
                for (int l = sg.lane; l < sg.lane + sg.len; ++l) d[l] = s * acc[r][l];
        }
    }
}

#if IMBDEF_GEMM_AVX512
// Lanes [lo, hi) of a 16-lane half starting at lane `base`.
IMBDEF_FORCEINLINE __mmask16 lane_mask(int lo, int hi, int base) {
    lo = lo < base ? base : lo;
    hi = hi > base + 16 ? base + 16 : hi;
    if (hi <= lo) return 0;
    return static_cast<__mmask16>(((1u << (hi - lo)) - 1u) << (lo - base));
}

// p + by elements, computed on integers: the masked accesses below may start before an array.
IMBDEF_FORCEINLINE float* shift_ptr(float* p, index_t by) {
    return reinterpret_cast<float*>(reinterpret_cast<std::uintptr_t>(p) +
                                    static_cast<std::uintptr_t>(by * index_t(sizeof(float))));
}
IMBDEF_FORCEINLINE const float* shift_ptr(const float* p, index_t by) {
    return reinterpret_cast<const float*>(reinterpret_cast<std::uintptr_t>(p) +
                                          static_cast<std::uintptr_t>(by * index_t(sizeof(float))));
}

// In-register transpose of a 16 x 16 block: r[i][j] becomes r[j][i]. Four exchange stages, one
// per bit of the index: stage b swaps column block (k & b) of row i with block k - b of row i + b.
// (Two-source permutes only: GCC 12 warns about the undefined operand of the unpack intrinsics.)
IMBDEF_FORCEINLINE void transpose16(__m512 (&r)[16]) {
    // Indices of the exchange with block size b: rows keep k when k & b == 0, else take k - b of
    // the partner (16 + k - b); partners take k + b, or keep their own (16 + k).
    static constexpr auto make = [](int b, bool partner) {
        struct idx {
            alignas(64) std::int32_t v[16];
        } out{};
        for (int k = 0; k < 16; ++k) {
            const bool left = (k & b) == 0;
            out.v[k] = partner ? (left ? k + b : 16 + k) : (left ? k : 16 + k - b);
        }
        return out;
    };
    static constexpr decltype(make(1, false)) lo[4] = {make(8, false), make(4, false), make(2, false), make(1, false)};
    static constexpr decltype(make(1, false)) hi[4] = {make(8, true), make(4, true), make(2, true), make(1, true)};
    for (int stage = 0; stage < 4; ++stage) {
        const int b = 8 >> stage;
        const __m512i ilo = _mm512_load_si512(lo[stage].v), ihi = _mm512_load_si512(hi[stage].v);
        for (int i = 0; i < 16; ++i) {
            if (i & b) continue;
            const __m512 a = r[i], c = r[i + b];
            r[i] = _mm512_permutex2var_ps(a, ilo, c);
            r[i + b] = _mm512_permutex2var_ps(a, ihi, c);
        }
    }
}

template <int Rows>
IMBDEF_FORCEINLINE void store_rows_f32(__m512 (&acc0)[Rows], __m512 (&acc1)[Rows], const c_tile<float>& t,
                                       index_t row0, bool add) {
    if (t.row_scale) {
#pragma GCC unroll 14
        for (int r = 0; r < Rows; ++r) {
            const __m512 s = _mm512_set1_ps(t.row_scale[row0 + r]);
            acc0[r] = _mm512_mul_ps(acc0[r], s);
            acc1[r] = _mm512_mul_ps(acc1[r], s);
        }
    }
    float* c = t.ptr + row0 * t.ldc;
    const index_t ldc = t.ldc;
    if (t.is_contiguous() && t.seg[0].len == 32) {
        if (add) {
#pragma GCC unroll 14
            for (int r = 0; r < Rows; ++r) {
                float* cr = c + r * ldc;
                _mm512_storeu_ps(cr, _mm512_add_ps(_mm512_loadu_ps(cr), acc0[r]));
                _mm512_storeu_ps(cr + 16, _mm512_add_ps(_mm512_loadu_ps(cr + 16), acc1[r]));
            }
        } else {
#pragma GCC unroll 14
            for (int r = 0; r < Rows; ++r) {
                float* cr = c + r * ldc;
                _mm512_storeu_ps(cr, acc0[r]);
                _mm512_storeu_ps(cr + 16, acc1[r]);
            }
        }
        return;
    }
    // Segments: masked lanes are neither read nor written.
    for (int g = 0; g < t.nseg; ++g) {
        const auto& sg = t.seg[g];
        const __mmask16 m0 = lane_mask(sg.lane, sg.lane + sg.len, 0);
        const __mmask16 m1 = lane_mask(sg.lane, sg.lane + sg.len, 16);
        float* base = shift_ptr(c, sg.offset - sg.lane);
#pragma GCC unroll 14
        for (int r = 0; r < Rows; ++r) {
            float* cr = base + r * ldc;
            __m512 v0 = acc0[r];
            __m512 v1 = acc1[r];
            if (m0) {
                if (add) v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), v0);
                _mm512_mask_storeu_ps(cr, m0, v0);
            }
            if (m1) {
                if (add) v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), v1);
                _mm512_mask_storeu_ps(cr + 16, m1, v1);
            }
        }
    }
}

template <int Rows>
void micro_kernel_f32_avx512(index_t kc, const float* IMBDEF_RESTRICT a, index_t lda, const float* IMBDEF_RESTRICT b,
                             const c_tile<float>& t, index_t row0, bool add) {
    __m512 acc0[Rows];
    __m512 acc1[Rows];
#pragma GCC unroll 14
    for (int r = 0; r < Rows; ++r) {
        acc0[r] = _mm512_setzero_ps();
        acc1[r] = _mm512_setzero_ps();
    }
#pragma GCC unroll 2
    for (index_t k = 0; k < kc; ++k) {
        const __m512 b0 = _mm512_load_ps(b);
        const __m512 b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 14
        for (int r = 0; r < Rows; ++r) {
            const __m512 ar = _mm512_set1_ps(a[r]);
            acc0[r] = _mm512_fmadd_ps(ar, b0, acc0[r]);
            acc1[r] = _mm512_fmadd_ps(ar, b1, acc1[r]);
        }
        a += lda;
        b += 32;
    }
    store_rows_f32<Rows>(acc0, acc1, t, row0, add);
}
#endif

template <class T, int Rows>
void micro_kernel_rows(index_t kc, const T* a, index_t lda, const T* b, const c_tile<T>& t, index_t row0, bool add) {
#if IMBDEF_GEMM_AVX512
    if constexpr (std::is_same_v<T, float>) {
        micro_kernel_f32_avx512<Rows>(kc, a, lda, b, t, row0, add);
        return;
    } else
#endif
    {
        micro_kernel_portable<T, Rows>(kc, a, lda, b, t, row0, add);
    }
}

template <class T>
using micro_kernel_fn = void (*)(index_t, const T*, index_t, const T*, const c_tile<T>&, index_t, bool);

template <class T, int... R>
constexpr auto make_kernel_table(std::integer_sequence<int, R...>) {
    struct table {
        micro_kernel_fn<T> f[sizeof...(R) + 1];
    };
    return table{{nullptr, &micro_kernel_rows<T, R + 1>...}};
}

}  // namespace detail

// Computes rows [row0, row0 + rows) of the tile t (rows <= kernel_traits<T>::mr); see the top of
// this header.
template <class T>
IMBDEF_FORCEINLINE void micro_kernel(int rows, index_t kc, const T* a, index_t lda, const T* b, const c_tile<T>& t,
                                     index_t row0, bool add) {
    constexpr int max_rows = kernel_traits<T>::mr;
    if (rows == max_rows) {
        detail::micro_kernel_rows<T, max_rows>(kc, a, lda, b, t, row0, add);
        return;
    }
    static constexpr auto table = detail::make_kernel_table<T>(std::make_integer_sequence<int, max_rows>{});
    table.f[rows](kc, a, lda, b, t, row0, add);
}

}  // namespace imbdef::ops::gemm
