#pragma once
// Convolutions as GEMMs over "shifted images" (gemm.hpp), so that packing an operand is a plain
// (masked) copy and no column matrix is materialised.
//
// Numbering the output positions of a sample with a row pitch ws, q = i * ws + j, the column-matrix
// entry of tap (c, u, v) at position q sits at a fixed offset from q in a suitable image:
// - direct layout, for stride-1 convolutions whose output has the input's extents (3x3 pad 1,
//   1x1 pad 0): the input itself, ws = W, offset c H W + (u - pad_h) W + (v - pad_w); the zero
//   padding is implicit, by masking the lanes whose row or column falls outside the input;
// - copied layout, for everything else: the input rearranged into s * s phase images per channel,
//   X_ab[c][i][j] = x[c][s i + a - pad_h][s j + b - pad_w] (0 outside), each Hs = OH + (KH-1)/s rows
//   by ws = OW + (KW-1)/s columns; tap (c, u, v) is at (c s^2 + (u mod s) s + v mod s) Hs ws +
//   (u / s) ws + v / s. Positions with j >= OW are "garbage": computed, never stored.
// So B of the forward GEMM (rows = taps, columns = positions) is packed by copying nr consecutive
// elements per tap, and the weight gradient, per tap, multiplies transposed images.
//
// GEMM columns are numbered n * cps + q over the batch, cps = positions per sample (panels may then
// span samples, which keeps small images from wasting lanes), or positions rounded up to whole
// panels when the output rows carry a per-sample scale.
//
// - shifted_image: the layout, the preparation of the copied layout, the tap offsets;
// - shifted_columns (B packer) and shifted_tiles (C tiles) for y = W col;
// - transposed_channels, transposed_rows: the weight gradient's operands.

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "../../core/parallel.hpp"
#include "../../core/shape.hpp"
#include "../def/conv2d.hpp"
#include "gemm.hpp"

namespace imbdef::ops::conv {

using core::index_t;

namespace detail {

// Copies image rows into padded rows: dst[j] = sc * row[j * s + iw0] for j < ws, 0 where the
// column falls outside [0, w) or the row is missing (row == nullptr). The column bounds depend
// only on (w, s, iw0, ws), so they are computed once per phase, not once per row.
struct row_copier {
    index_t w, s, iw0, ws;
    index_t j_lo, j_hi;  // the columns that read the input

    row_copier(index_t w_, index_t s_, index_t iw0_, index_t ws_) : w(w_), s(s_), iw0(iw0_), ws(ws_) {
        j_lo = std::clamp<index_t>(iw0 >= 0 ? 0 : (-iw0 + s - 1) / s, 0, ws);
        j_hi = std::clamp<index_t>(w - iw0 > 0 ? (w - iw0 + s - 1) / s : 0, j_lo, ws);
    }

    template <class T>
    IMBDEF_FORCEINLINE void operator()(const T* row, T sc, T* dst) const {
        if (!row) {
            std::fill_n(dst, ws, T(0));
            return;
        }
        for (index_t j = 0; j < j_lo; ++j) dst[j] = T(0);
        index_t j = j_lo;
        if (s == 1) {
            const T* src = row + iw0;
            for (; j < j_hi; ++j) dst[j] = sc * src[j];
        } else {
#if IMBDEF_GEMM_AVX512
            if constexpr (std::is_same_v<T, float>) {
                if (s == 2) {  // the even elements of 32 consecutive ones
                    const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
                    const __m512 f = _mm512_set1_ps(sc);
                    for (; j + 16 <= j_hi; j += 16) {
                        const float* src = row + j * 2 + iw0;
                        const __m512 v = _mm512_permutex2var_ps(_mm512_loadu_ps(src), even, _mm512_loadu_ps(src + 16));
                        _mm512_storeu_ps(dst + j, _mm512_mul_ps(v, f));
                    }
                }
            }
#endif
            for (; j < j_hi; ++j) dst[j] = sc * row[j * s + iw0];
        }
        for (index_t k = j_hi; k < ws; ++k) dst[k] = T(0);
    }
};

}  // namespace detail

struct shifted_image {
    conv_geometry g;
    bool direct = false;    // the input itself, zero padding by lane masks
    bool masked = false;    // direct with padding: taps need validity masks
    index_t phases = 1;     // s * s
    index_t hs = 0, ws = 0;
    index_t plane = 0;      // hs * ws
    index_t sample = 0;     // elements per sample of the image
    index_t positions = 0;  // OH * ws per sample
    index_t cps = 0;        // GEMM columns per sample

    // copied: the copied layout even where the direct one applies.
    template <class T>
    static shifted_image make(const conv_geometry& g, bool per_sample_panels, bool copied = false) {
        shifted_image im;
        im.g = g;
        const index_t s = g.stride;
        im.direct = !copied && s == 1 && g.oh == g.h && g.ow == g.w;
        if (im.direct) {
            im.masked = g.pad_h != 0 || g.pad_w != 0;
            im.hs = g.h;
            im.ws = g.w;
        } else {
            im.phases = s * s;
            im.hs = g.oh + (g.kh - 1) / s;
            im.ws = g.ow + (g.kw - 1) / s;
        }
        im.plane = im.hs * im.ws;
        im.sample = g.c * im.phases * im.plane;
        im.positions = g.oh * im.ws;
        im.cps = per_sample_panels ? gemm::round_up_nr<T>(im.positions) : im.positions;
        return im;
    }

    index_t columns() const { return g.n * cps; }
    // A zero tail after the last sample of a copied image, which its shifted reads may reach.
    index_t tail() const { return (g.kw - 1) / g.stride + 1; }
    index_t buffer_size() const { return g.n * sample + tail(); }

    index_t tap_offset(index_t c, index_t u, index_t v) const {
        if (direct) return c * plane + (u - g.pad_h) * ws + (v - g.pad_w);
        const index_t s = g.stride;
        return (c * phases + (u % s) * s + v % s) * plane + (u / s) * ws + v / s;
    }

    // Writes the copied layout of x * scale ([N, C] or null) into buf (buffer_size elements).
    template <class T>
    void prepare(const T* x, const T* scale, T* buf) const {
        const index_t s = g.stride;
        core::parallel_for(0, g.n * g.c, std::max<index_t>(1, 8192 / std::max<index_t>(1, phases * plane)),
                           [&](index_t p0, index_t p1) {
                               for (index_t nc = p0; nc < p1; ++nc) {
                                   const T* src = x + nc * g.h * g.w;
                                   const T sc = scale ? scale[nc] : T(1);
                                   for (index_t a = 0; a < s; ++a)
                                       for (index_t b = 0; b < s; ++b) {
                                           T* dst = buf + (nc * phases + a * s + b) * plane;
                                           const detail::row_copier copy(g.w, s, b - g.pad_w, ws);
                                           for (index_t i = 0; i < hs; ++i) {
                                               const index_t ih = i * s + a - g.pad_h;
                                               copy(ih >= 0 && ih < g.h ? src + ih * g.w : nullptr, sc, dst + i * ws);
                                           }
                                       }
                               }
                           });
        std::fill_n(buf + g.n * sample, tail(), T(0));
    }
};

// Offsets of every tap (weight order) into one sample's image.
inline void tap_offsets(const shifted_image& im, index_t* out) {
    index_t k = 0;
    for (index_t c = 0; c < im.g.c; ++c)
        for (index_t u = 0; u < im.g.kh; ++u)
            for (index_t v = 0; v < im.g.kw; ++v) out[k++] = im.tap_offset(c, u, v);
}

// The lanes of one micro-panel: runs of consecutive positions of one sample.
struct panel_lanes {
    struct run {
        std::uint32_t lanes = 0;  // bit l: lane l belongs to the run
        index_t n = 0;
        index_t base = 0;  // image offset of lane 0 (the run's first lane at q, minus its lane index)
    };
    static constexpr int max_lanes = 32;
    run runs[max_lanes];
    int nruns = 0;
    int lanes = 0;
    index_t row[max_lanes] = {};  // output row i and column j of each lane (direct layout)
    index_t col[max_lanes] = {};

    void build(const shifted_image& im, index_t j0, int width) {
        nruns = 0;
        lanes = width;
        index_t n = j0 / im.cps, q = j0 % im.cps;
        index_t i = q / im.ws, j = q % im.ws;
        for (int l = 0; l < width; ++l) {
            if (n < im.g.n && q < im.positions) {
                row[l] = i;
                col[l] = j;
                if (nruns == 0 || runs[nruns - 1].n != n) runs[nruns++] = {0, n, n * im.sample + q - l};
                runs[nruns - 1].lanes |= std::uint32_t{1} << l;
            }
            if (++q == im.cps) {
                q = 0;
                i = j = 0;
                ++n;
            } else if (++j == im.ws) {
                j = 0;
                ++i;
            }
        }
    }
    // The lanes whose tap (u, v) reads inside the input (direct layout).
    std::uint32_t valid(const shifted_image& im, index_t u, index_t v) const {
        std::uint32_t m = 0;
        for (int l = 0; l < lanes; ++l) {
            const index_t ih = row[l] + u - im.g.pad_h, iw = col[l] + v - im.g.pad_w;
            if (ih >= 0 && ih < im.g.h && iw >= 0 && iw < im.g.w) m |= std::uint32_t{1} << l;
        }
        return m;
    }
};

// B of the forward GEMM: rows are taps, columns positions (numbered as above); lanes without a
// position, or (direct layout) whose tap falls outside the input, are zero. `scale` ([N, C]) is
// applied here for a direct image (a copied one carries it already).
template <class T>
struct shifted_columns {
    const T* img;
    const index_t* taps;  // tap_offsets
    const T* scale;
    shifted_image im;

    void pack(index_t k0, index_t kc, index_t j0, index_t nc, T* dst) const {
        constexpr int nr = gemm::kernel_traits<T>::nr;
        constexpr std::uint32_t all = lane_bits(nr);
        const index_t kk2 = im.g.kh * im.g.kw;
        for (index_t jq = 0; jq < nc; jq += nr, dst += nr * kc) {
            panel_lanes pl;
            pl.build(im, j0 + jq, nr);
            const bool one_run = pl.nruns == 1 && pl.runs[0].lanes == all && !scale;
            // Validity of each tap (u, v) of a channel, the same for every channel.
            std::uint32_t tap_valid[max_taps];
            const bool table = im.masked && kk2 <= max_taps;
            if (table)
                for (index_t t = 0; t < kk2; ++t) tap_valid[t] = pl.valid(im, t / im.g.kw, t % im.g.kw);
            index_t c = k0 / kk2, t = k0 % kk2;  // the tap (channel, (u, v)) of step k0
            // The driver packs the next nc columns next: their tap rows follow these in memory but
            // are scattered over the channels, too many streams for the hardware prefetcher.
            const T* ahead = pl.nruns ? img + pl.runs[0].base + nc : nullptr;
            for (index_t kk = 0; kk < kc; ++kk) {
                const std::uint32_t valid = !im.masked ? all : table ? tap_valid[t] : pl.valid(im, t / im.g.kw, t % im.g.kw);
                if (ahead) prefetch_row(ahead, taps[k0 + kk]);
                pack_lanes(pl, one_run && valid == all, valid, taps[k0 + kk], scale ? scale + c : nullptr, dst + kk * nr);
                if (++t == kk2) {
                    t = 0;
                    ++c;
                }
            }
        }
    }

private:
    static constexpr index_t max_taps = 64;

    static constexpr std::uint32_t lane_bits(int n) {
        return n >= 32 ? ~std::uint32_t{0} : (std::uint32_t{1} << n) - 1u;
    }

    // Prefetches one panel row (nr elements at base + off) into L2; prefetches never fault.
    static void prefetch_row(const T* base, index_t off) {
#if defined(__GNUC__)
        const char* p = reinterpret_cast<const char*>(reinterpret_cast<std::uintptr_t>(base) +
                                                      static_cast<std::uintptr_t>(off * index_t(sizeof(T))));
        constexpr int bytes = gemm::kernel_traits<T>::nr * int(sizeof(T));
        for (int b = 0; b <= bytes; b += 64) __builtin_prefetch(p + b, 0, 2);
#else
        (void)base;
        (void)off;
#endif
    }

    // One packed row: lane l of run r is img[base_r + off + l] when bit l of valid is set, times
    // scale_c[n_r * C] when given; other lanes are 0. `plain`: one run over every lane, all valid.
    void pack_lanes(const panel_lanes& pl, bool plain, std::uint32_t valid, index_t off, const T* scale_c, T* d) const {
        constexpr int nr = gemm::kernel_traits<T>::nr;
#if IMBDEF_GEMM_AVX512
        if constexpr (std::is_same_v<T, float> && nr == 32) {
            if (plain) {
                const float* src = img + pl.runs[0].base + off;
                _mm512_store_ps(d, _mm512_loadu_ps(src));
                _mm512_store_ps(d + 16, _mm512_loadu_ps(src + 16));
                return;
            }
            __m512 v0 = _mm512_setzero_ps(), v1 = _mm512_setzero_ps();
            for (int r = 0; r < pl.nruns; ++r) {
                const std::uint32_t m = pl.runs[r].lanes & valid;
                if (!m) continue;
                const float* src = gemm::detail::shift_ptr(img, pl.runs[r].base + off);
                const __mmask16 m0 = static_cast<__mmask16>(m), m1 = static_cast<__mmask16>(m >> 16);
                const __m512 a = _mm512_maskz_loadu_ps(m0, src), b = _mm512_maskz_loadu_ps(m1, src + 16);
                if (scale_c) {
                    const __m512 f = _mm512_set1_ps(scale_c[pl.runs[r].n * im.g.c]);
                    v0 = _mm512_mask_mul_ps(v0, m0, a, f);
                    v1 = _mm512_mask_mul_ps(v1, m1, b, f);
                } else {
                    v0 = _mm512_mask_mov_ps(v0, m0, a);
                    v1 = _mm512_mask_mov_ps(v1, m1, b);
                }
            }
            _mm512_store_ps(d, v0);
            _mm512_store_ps(d + 16, v1);
            return;
        }
#endif
        (void)plain;
        for (int l = 0; l < nr; ++l) d[l] = T(0);
        for (int r = 0; r < pl.nruns; ++r) {
            const std::uint32_t m = pl.runs[r].lanes & valid;
            const T f = scale_c ? scale_c[pl.runs[r].n * im.g.c] : T(1);
            for (int l = 0; l < nr; ++l)
                if (m >> l & 1u) d[l] = f * img[pl.runs[r].base + off + l];
        }
    }
};

// The C tiles of an NCHW output [N, rows, OH, OW] in the column numbering above: each tile's lanes
// are cut into output-row segments and garbage positions dropped. An optional per-(sample, row)
// scale [N, rows] needs the per-sample column numbering (no panel spans two samples).
template <class T>
struct shifted_tiles {
    T* y;
    const T* row_scale;
    index_t rows;
    shifted_image im;

    gemm::c_tile<T> tile(index_t i0, index_t j0) const {
        constexpr int nr = gemm::kernel_traits<T>::nr;
        const index_t ow = im.g.ow;
        const index_t plane = im.g.oh * ow;
        gemm::c_tile<T> t;
        t.ptr = y + i0 * plane;
        t.ldc = plane;
        const index_t end = std::min<index_t>(j0 + nr, im.columns());
        for (index_t jj = j0; jj < end;) {
            const index_t n = jj / im.cps;
            const index_t q = jj % im.cps;
            if (row_scale && t.nseg == 0) t.row_scale = row_scale + n * rows + i0;
            if (q >= im.positions) {  // the padding of a per-sample numbering
                jj += im.cps - q;
                continue;
            }
            const index_t i = q / im.ws, j = q % im.ws;
            const index_t run = std::min({im.ws - j, end - jj, im.positions - q});
            const index_t valid = std::clamp<index_t>(ow - j, 0, run);
            if (valid > 0)
                t.seg[t.nseg++] = {static_cast<int>(jj - j0), static_cast<int>(valid), n * rows * plane + i * ow + j};
            jj += run;
        }
        return t;
    }
};

// Channels of samples transposed over padded-width positions, several samples side by side: for
// each phase (a, b) < s^2, row i < rows and column j < ws of the sample placed at column col0, with
// r = row0 + i,
//   out[phase][i * pitch + col0 + j][c] = scale[c] * src[c][r s + a - pad_h][j s + b - pad_w]
// (0 outside the input, for r >= valid_rows, and for channels c >= channels up to cp, a multiple
// of 16). The weight gradient reads x and dy in this form; placing the samples of a group side by
// side gives small images long reductions.
struct transposed_channels {
    index_t channels, h, w;  // src [channels, h, w]
    index_t stride, pad_h, pad_w;
    index_t rows, valid_rows, ws;
    index_t pitch;  // positions per row: ws times the samples side by side
    index_t cp;
    index_t row0 = 0;  // row i of the buffer is row row0 + i of the padded image

    index_t phase_size() const { return rows * pitch * cp; }
    index_t size() const { return stride * stride * phase_size(); }

    // stage: 16 * ws elements of scratch.
    template <class T>
    void run(const T* src, const T* scale, index_t col0, T* out, T* stage) const {
        const index_t s = stride;
        for (index_t a = 0; a < s; ++a)
            for (index_t b = 0; b < s; ++b) {
                T* dst = out + (a * s + b) * phase_size();
                const detail::row_copier copy(w, s, b - pad_w, ws);
                for (index_t c0 = 0; c0 < cp; c0 += 16) {
                    const index_t cn = std::clamp<index_t>(channels - c0, 0, 16);
                    for (index_t i = 0; i < rows; ++i) {
                        const index_t ih = (row0 + i) * s + a - pad_h;
                        const bool row_in = row0 + i < valid_rows && ih >= 0 && ih < h;
                        for (index_t cc = 0; cc < 16; ++cc) {
                            const bool in = cc < cn && row_in;
                            copy(in ? src + ((c0 + cc) * h + ih) * w : nullptr, in && scale ? scale[c0 + cc] : T(1),
                                 stage + cc * ws);
                        }
                        write_transposed(stage, dst + (i * pitch + col0) * cp + c0);
                    }
                }
            }
    }

private:
    // orow[j * cp + cc] = stage[cc * ws + j] for j < ws, cc < 16.
    template <class T>
    void write_transposed(const T* stage, T* orow) const {
        index_t j = 0;
#if IMBDEF_GEMM_AVX512
        if constexpr (std::is_same_v<T, float>) {
            for (; j + 16 <= ws; j += 16) {
                __m512 r[16];
                for (int cc = 0; cc < 16; ++cc) r[cc] = _mm512_loadu_ps(stage + cc * ws + j);
                gemm::detail::transpose16(r);
                for (int l = 0; l < 16; ++l) _mm512_storeu_ps(orow + (j + l) * cp, r[l]);
            }
        }
#endif
        for (; j < ws; ++j)
            for (index_t cc = 0; cc < 16; ++cc) orow[j * cp + cc] = stage[cc * ws + j];
    }
};

// B of a weight-gradient GEMM from a transposed_channels buffer: rows are positions q, columns
// channels, B[q][c] = t[(q + shift) * cp + c].
template <class T>
struct transposed_rows {
    const T* t;
    index_t cp;
    index_t shift;

    // Rows outer, panels inner: each source row is read once, front to back.
    void pack(index_t k0, index_t kc, index_t j0, index_t nc, T* dst) const {
        constexpr int nr = gemm::kernel_traits<T>::nr;
        for (index_t kk = 0; kk < kc; ++kk) {
            const T* src = t + (k0 + kk + shift) * cp + j0;
            for (index_t jq = 0; jq < nc; jq += nr) std::memcpy(dst + jq * kc + kk * nr, src + jq, nr * sizeof(T));
        }
    }
};

}  // namespace imbdef::ops::conv
