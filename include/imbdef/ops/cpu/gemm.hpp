#pragma once
// The CPU GEMM core: a cache-blocked driver over packed panels and the micro-kernels of
// gemm_kernel.hpp. Convolutions, fully connected layers and modulated convolutions all run
// through it; what differs between them is only how A and B are packed (conv_operands.hpp reads
// images as operands without materialising a column matrix) and where each C tile goes.
//
// The product is C[m x n] (+)= A[m x k] B[k x n]. The driver owns the loop nest
//   for each block of nc columns, for each block of kc reduction steps:
//       pack B[kc x nc] (thread-local);
//       for each block of mc rows: get the A block; run the micro-kernel on every tile.
//
// The three policies the driver is parameterised by:
// - A source: `a_block<T> block(m0, mc, k0, kc, T* buffer) const` gives rows [m0, m0 + mc) (m0 a
//   multiple of mr) and steps [k0, k0 + kc) as micro-panels of mr rows: panel p at
//   ptr + p * panel_stride, element (r, k) at k * lda + r. It may pack into `buffer`
//   (mr * kc per panel) or point into storage packed beforehand (prepacked_a) or read in place.
// - B packer: `void pack(k0, kc, j0, nc, T* dst) const` writes ceil(nc / nr) micro-panels of kc x nr,
//   element (k, j) of panel q at dst[q * nr * kc + k * nr + j], columns without data zero-filled.
// - C tiles: `c_tile<T> tile(i0, j0) const` for a row i0 (a multiple of mr) and the first column j0
//   of a micro-panel says where rows i0, i0 + 1, ... of that tile go (gemm_kernel.hpp); a tile
//   without segments is skipped.

#include <algorithm>

#include "../../core/parallel.hpp"
#include "../../core/scratch.hpp"
#include "../../core/shape.hpp"
#include "gemm_kernel.hpp"

namespace imbdef::ops::gemm {

// Block sizes in elements. The packed B micro-panel (kc x nr) and the A block (mc x kc) live in
// L2; large kc keeps the C tiles' loads and stores rare (bench/bench_dense.cpp, docs/ops/dense.md).
struct blocking {
    index_t kc;
    index_t mc;
    index_t nc;
};

template <class T>
constexpr blocking default_blocking() {
    return sizeof(T) == 4 ? blocking{1152, 140, 64} : blocking{256, 128, 512};
}

template <class T>
struct a_block {
    const T* ptr = nullptr;
    index_t panel_stride = 0;
    index_t lda = 0;
};

constexpr index_t round_up(index_t n, index_t to) { return (n + to - 1) / to * to; }

// Rounds n up to a multiple of the micro-panel width.
template <class T>
constexpr index_t round_up_nr(index_t n) {
    return round_up(n, kernel_traits<T>::nr);
}

// The block size that splits n into the fewest blocks of at most `most`, as equal as possible
// (a remainder block of a few steps would cost a full pass of tile loads and stores).
constexpr index_t balanced_block(index_t n, index_t most) {
    const index_t blocks = (n + most - 1) / most;
    return blocks > 0 ? (n + blocks - 1) / blocks : 1;
}

// Runs the loop nest above for the columns [j_begin, j_end) (micro-panels start at j_begin) and all
// m rows, on the calling thread. `add` accumulates onto C; otherwise C is overwritten.
template <class T, class ASource, class BPacker, class CTiles>
void run_columns(index_t m, index_t k, index_t j_begin, index_t j_end, const ASource& a, const BPacker& b,
                 const CTiles& c, bool add, const blocking& bl = default_blocking<T>()) {
    constexpr int mr = kernel_traits<T>::mr;
    constexpr int nr = kernel_traits<T>::nr;
    if (m <= 0 || j_end <= j_begin) return;
    if (k <= 0) {  // an empty reduction: C = 0, or unchanged when adding
        if (add) return;
        for (index_t j0 = j_begin; j0 < j_end; j0 += nr)
            for (index_t i0 = 0; i0 < m; i0 += mr) {
                const c_tile<T> t = c.tile(i0, j0);
                for (index_t r = 0; r < std::min<index_t>(mr, m - i0); ++r)
                    for (int g = 0; g < t.nseg; ++g)
                        std::fill_n(t.ptr + r * t.ldc + t.seg[g].offset, t.seg[g].len, T(0));
            }
        return;
    }
    core::scratch_scope scope;
    const index_t kc_max = balanced_block(k, bl.kc);
    const index_t nc_max = std::min(round_up_nr<T>(bl.nc), round_up_nr<T>(j_end - j_begin));
    const index_t mc_max = std::min(round_up(bl.mc, mr), round_up(m, mr));
    T* bbuf = scope.allocate<T>(core::shape{kc_max * nc_max}).data();
    T* abuf = scope.allocate<T>(core::shape{kc_max * mc_max}).data();

    for (index_t jc = j_begin; jc < j_end; jc += nc_max) {
        const index_t nc = std::min(nc_max, j_end - jc);
        for (index_t k0 = 0; k0 < k; k0 += kc_max) {
            const index_t kc = std::min(kc_max, k - k0);
            b.pack(k0, kc, jc, nc, bbuf);
            const bool add_here = add || k0 > 0;
            for (index_t ic = 0; ic < m; ic += mc_max) {
                const index_t mc = std::min(mc_max, m - ic);
                const a_block<T> ab = a.block(ic, mc, k0, kc, abuf);
                for (index_t jr = 0; jr < nc; jr += nr) {
                    const c_tile<T> t = c.tile(ic, jc + jr);
                    if (t.nseg == 0) continue;
                    const T* bp = bbuf + jr * kc;
                    for (index_t ir = 0; ir < mc; ir += mr) {
                        const int rows = static_cast<int>(std::min<index_t>(mr, mc - ir));
                        micro_kernel<T>(rows, kc, ab.ptr + (ir / mr) * ab.panel_stride, ab.lda, bp, t, ir, add_here);
                    }
                }
            }
        }
    }
}

// Splits the columns [0, n) into contiguous ranges of whole micro-panels over the thread pool and
// runs run_columns on each.
template <class T, class ASource, class BPacker, class CTiles>
void run_parallel(index_t m, index_t n, index_t k, const ASource& a, const BPacker& b, const CTiles& c, bool add,
                  const blocking& bl = default_blocking<T>()) {
    constexpr index_t nr = kernel_traits<T>::nr;
    const index_t panels = (n + nr - 1) / nr;
    const index_t work_per_panel = std::max<index_t>(1, 2 * m * std::max<index_t>(k, 1) * nr);
    const index_t grain = std::max<index_t>(1, (index_t{1} << 20) / work_per_panel);
    core::parallel_for(0, panels, grain, [&](index_t p0, index_t p1) {
        run_columns<T>(m, k, p0 * nr, std::min(n, p1 * nr), a, b, c, add, bl);
    });
}

// --- Strided matrices ------------------------------------------------------------------------

// Packs rows [m0, m0 + mc) and steps [k0, k0 + kc) of A(r, k) = scale * a[r * rs + k * cs] as
// micro-panels of mr rows, panel p at dst + p * panel_stride, element (r, k) at k * mr + r.
template <class T>
void pack_a_strided(const T* a, index_t rs, index_t cs, T scale, index_t m0, index_t mc, index_t k0, index_t kc, T* dst,
                    index_t panel_stride) {
    constexpr int mr = kernel_traits<T>::mr;
    for (index_t p0 = 0; p0 < mc; p0 += mr, dst += panel_stride) {
        const index_t h = std::min<index_t>(mr, mc - p0);
        const T* src = a + (m0 + p0) * rs + k0 * cs;
        if (rs == 1) {
            for (index_t kk = 0; kk < kc; ++kk)
                for (index_t r = 0; r < h; ++r) dst[kk * mr + r] = scale * src[kk * cs + r];
        } else {
            index_t kk = 0;
#if IMBDEF_GEMM_AVX512
            if constexpr (std::is_same_v<T, float>) {
                if (cs == 1) {  // 16 x 16 register transposes of the panel's rows
                    const __mmask16 rows_mask = static_cast<__mmask16>((1u << h) - 1u);
                    const __m512 f = _mm512_set1_ps(scale);
                    for (; kk + 16 <= kc; kk += 16) {
                        __m512 r[16];
                        for (int i = 0; i < 16; ++i)
                            r[i] = i < h ? _mm512_mul_ps(_mm512_loadu_ps(src + i * rs + kk), f) : _mm512_setzero_ps();
                        detail::transpose16(r);
                        for (int l = 0; l < 16; ++l) _mm512_mask_storeu_ps(dst + (kk + l) * mr, rows_mask, r[l]);
                    }
                }
            }
#endif
            for (index_t r = 0; r < h; ++r) {
                const T* row = src + r * rs;
                for (index_t k = kk; k < kc; ++k) dst[k * mr + r] = scale * row[k * cs];
            }
        }
    }
}

// Packs steps [k0, k0 + kc) and columns [j0, j0 + nc) of B(k, j) = b[k * rs + j * cs], j < n,
// into micro-panels; columns at or past n are zero.
template <class T>
void pack_b_strided(const T* b, index_t rs, index_t cs, index_t n, index_t k0, index_t kc, index_t j0, index_t nc,
                    T* dst) {
    constexpr int nr = kernel_traits<T>::nr;
    for (index_t q = 0; q < nc; q += nr, dst += nr * kc) {
        const index_t jb = j0 + q;
        const index_t w = std::clamp<index_t>(n - jb, 0, nr);
        if (cs == 1) {
            for (index_t kk = 0; kk < kc; ++kk) {
                const T* src = b + (k0 + kk) * rs + jb;
                T* d = dst + kk * nr;
                for (index_t j = 0; j < w; ++j) d[j] = src[j];
                for (index_t j = w; j < nr; ++j) d[j] = T(0);
            }
        } else {
            for (index_t kk = 0; kk < kc; ++kk)
                for (index_t j = w; j < nr; ++j) dst[kk * nr + j] = T(0);
            for (index_t j = 0; j < w; ++j) {
                const T* src = b + k0 * rs + (jb + j) * cs;
                for (index_t kk = 0; kk < kc; ++kk) dst[kk * nr + j] = src[kk * rs];
            }
        }
    }
}

// A source that packs a strided matrix on demand into the driver's thread-local buffer.
template <class T>
struct strided_a {
    const T* a;
    index_t rs;
    index_t cs;
    T scale = T(1);
    a_block<T> block(index_t m0, index_t mc, index_t k0, index_t kc, T* buffer) const {
        constexpr int mr = kernel_traits<T>::mr;
        pack_a_strided(a, rs, cs, scale, m0, mc, k0, kc, buffer, mr * kc);
        return {buffer, mr * kc, mr};
    }
};

template <class T>
struct strided_b {
    const T* b;
    index_t rs;
    index_t cs;
    index_t n;
    void pack(index_t k0, index_t kc, index_t j0, index_t nc, T* dst) const {
        pack_b_strided(b, rs, cs, n, k0, kc, j0, nc, dst);
    }
};

// C as a row-major matrix with leading dimension ldc and n columns.
template <class T>
struct matrix_c {
    T* c;
    index_t ldc;
    index_t n;
    c_tile<T> tile(index_t i0, index_t j0) const {
        return c_tile<T>::contiguous(c + i0 * ldc + j0, ldc,
                                     static_cast<int>(std::clamp<index_t>(n - j0, 0, kernel_traits<T>::nr)));
    }
};

// An A operand packed once, before a parallel region, and shared read-only by every task: panels
// of mr rows over the whole reduction, panel p at p * mr * k.
template <class T>
struct prepacked_a {
    const T* data = nullptr;
    index_t k = 0;
    a_block<T> block(index_t m0, index_t /*mc*/, index_t k0, index_t /*kc*/, T* /*buffer*/) const {
        constexpr int mr = kernel_traits<T>::mr;
        return {data + (m0 / mr) * mr * k + k0 * mr, mr * k, mr};
    }
};

// Elements a prepacked A of m x k needs.
template <class T>
constexpr index_t prepacked_size(index_t m, index_t k) {
    return round_up(m, kernel_traits<T>::mr) * k;
}

// Packs all of A into dst (prepacked_size elements) with pack(m0, mc, k0, kc, dst, panel_stride),
// which has pack_a_strided's layout, splitting the panels over the thread pool.
template <class T, class Pack>
prepacked_a<T> prepack_a(index_t m, index_t k, const Pack& pack, T* dst) {
    constexpr int mr = kernel_traits<T>::mr;
    const index_t panels = (m + mr - 1) / mr;
    const index_t grain = std::max<index_t>(1, (index_t{1} << 15) / std::max<index_t>(1, mr * k));
    core::parallel_for(0, panels, grain, [&](index_t p0, index_t p1) {
        const index_t m0 = p0 * mr;
        pack(m0, std::min(m, p1 * mr) - m0, index_t{0}, k, dst + m0 * k, mr * k);
    });
    return {dst, k};
}

// C[m x n] (+)= alpha * A B for strided A (a_rs, a_cs) and B (b_rs, b_cs), C row-major (ldc), in
// parallel over column panels.
template <class T>
void matmul(index_t m, index_t n, index_t k, T alpha, const T* a, index_t a_rs, index_t a_cs, const T* b, index_t b_rs,
            index_t b_cs, T* c, index_t ldc, bool add) {
    if (m <= 0 || n <= 0) return;
    run_parallel<T>(m, n, k, strided_a<T>{a, a_rs, a_cs, alpha}, strided_b<T>{b, b_rs, b_cs, n}, matrix_c<T>{c, ldc, n},
                    add);
}

// C[m x n] (+)= alpha A B^T for A [m x k] and B [n x k], both with k contiguous (lda, ldb): a
// fully connected layer's forward with a small batch m. Dot products along k, each row of B read
// once per block of up to 8 rows of A (which stay in cache), in parallel over the rows of B.
template <class T>
void matmul_nt(index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda, const T* b, index_t ldb, T* c,
               index_t ldc, bool add) {
    constexpr int rows = 8;
    constexpr int lanes = 16;
    const index_t grain = std::max<index_t>(1, (index_t{1} << 16) / std::max<index_t>(1, m * k));
    core::parallel_for(0, n, grain, [&](index_t j0, index_t j1) {
        for (index_t j = j0; j < j1; ++j) {
            const T* bj = b + j * ldb;
            for (index_t i0 = 0; i0 < m; i0 += rows) {
                const int h = static_cast<int>(std::min<index_t>(rows, m - i0));
                T dot[rows] = {};
                index_t p = 0;
#if IMBDEF_GEMM_AVX512
                if constexpr (std::is_same_v<T, float>) {
                    __m512 acc[rows];
                    for (int r = 0; r < rows; ++r) acc[r] = _mm512_setzero_ps();
                    for (; p + lanes <= k; p += lanes) {
                        const __m512 bv = _mm512_loadu_ps(bj + p);
                        for (int r = 0; r < rows; ++r)
                            if (r < h) acc[r] = _mm512_fmadd_ps(_mm512_loadu_ps(a + (i0 + r) * lda + p), bv, acc[r]);
                    }
                    for (int r = 0; r < h; ++r) {  // (not _mm512_reduce_add_ps: GCC 12 warns inside it)
                        alignas(64) float lane[lanes];
                        _mm512_store_ps(lane, acc[r]);
                        for (int l = 0; l < lanes; ++l) dot[r] += lane[l];
                    }
                }
#endif
                if (p < k) {
                    T part[rows][lanes] = {};
                    for (; p < k; ++p)
                        for (int r = 0; r < h; ++r) part[r][p % lanes] += a[(i0 + r) * lda + p] * bj[p];
                    for (int r = 0; r < h; ++r)
                        for (int l = 0; l < lanes; ++l) dot[r] += part[r][l];
                }
                for (int r = 0; r < h; ++r) {
                    T& out = c[(i0 + r) * ldc + j];
                    out = add ? out + alpha * dot[r] : alpha * dot[r];
                }
            }
        }
    });
}

}  // namespace imbdef::ops::gemm
