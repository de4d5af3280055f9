#pragma once
// The CPU backend of ops::sum / ops::mean and their backward passes (def/reduce.hpp). Arguments
// are checked by the front end (ops/reduce.hpp).
//
// Forward, innermost run reduced: the (output, reduced element) pairs are walked in output-major
// order and cut into one contiguous range per chunk. An output whose elements lie inside one chunk
// is written by that chunk; the at most two outputs a chunk shares with its neighbours are summed
// from per-chunk partials afterwards, in chunk order, so the result depends only on the thread
// count. Forward, innermost run kept: chunks of outputs, each the sum of R rows.
// Backward: chunks of x, each row filled from its output.

#include <algorithm>

#include "../../core/grad_mode.hpp"
#include "../../core/parallel.hpp"
#include "../../core/scratch.hpp"
#include "../../core/tensor.hpp"
#include "../backend.hpp"
#include "../def/reduce.hpp"

namespace imbdef::ops {

namespace detail {

// Elements per chunk: a sum runs at tens of elements per ns, so a chunk below ~10^5 elements costs
// less than waking a pool thread.
inline constexpr core::index_t reduce_grain = core::index_t{1} << 17;

// Sum of p[0, n) in independent lanes (vectorisable without reassociation flags, and a shorter
// rounding chain than one running sum).
template <class T>
T reduce_sum_contiguous(const T* p, core::index_t n) noexcept {
    constexpr int lanes = 256 / static_cast<int>(sizeof(T));
    T acc[lanes] = {};
    core::index_t i = 0;
    for (; i + lanes <= n; i += lanes)
        for (int k = 0; k < lanes; ++k) acc[k] += p[i + k];
    T tail = T(0);
    for (; i < n; ++i) tail += p[i];
    for (int w = lanes / 2; w >= 1; w /= 2)
        for (int k = 0; k < w; ++k) acc[k] += acc[k + w];
    return acc[0] + tail;
}

// Splits [0, total) into at most core::reduction_partials chunks of at least `grain` (a count
// independent of the thread count, so the sums are too) and calls fn(c, lo, hi) for chunk c;
// returns the chunk count.
template <class Fn>
core::index_t for_each_reduce_chunk(core::index_t total, core::index_t grain, const Fn& fn) {
    const core::index_t chunks =
        std::clamp<core::index_t>(total / std::max<core::index_t>(grain, 1), 1, core::reduction_partials);
    core::parallel_for(0, chunks, 1, [&](core::index_t c0, core::index_t c1) {
        for (core::index_t c = c0; c < c1; ++c) fn(c, total * c / chunks, total * (c + 1) / chunks);
    });
    return chunks;
}

}  // namespace detail

template <>
struct backend<reduce_op, core::cpu> {
    // y = scale * sum over the reduced axes of x.
    template <class T>
    static void forward(core::const_view<T, core::cpu> x, core::view<T, core::cpu> y, const reduce_plan& p, T scale) {
        if (x.empty()) {
            for (T& v : y) v = scale * T(0);
            return;
        }
        if (p.inner_reduced())
            forward_inner_reduced(x.data(), y.data(), p, scale);
        else
            forward_inner_kept(x.data(), y.data(), p, scale);
    }

    // dx (under mode) = scale * dy broadcast over the reduced axes.
    template <class T>
    static void backward(core::const_view<T, core::cpu> dy, core::view<T, core::cpu> dx, core::grad_mode mode,
                         const reduce_plan& p, T scale) {
        const T* g = dy.data();
        T* out = dx.data();
        const core::index_t inner = p.inner();
        const bool inner_reduced = p.inner_reduced();
        detail::for_each_reduce_chunk(dx.numel(), detail::reduce_grain, [&](core::index_t, core::index_t lo, core::index_t hi) {
            core::index_t pos = lo;
            while (pos < hi) {
                const core::index_t row = pos / inner, l = pos % inner;
                const core::index_t seg = std::min(inner - l, hi - pos);
                const core::index_t o = p.output_of_row(row);
                T* d = out + pos;
                if (inner_reduced) {
                    const T v = scale * g[o];
                    if (mode == core::grad_mode::assign)
                        for (core::index_t i = 0; i < seg; ++i) d[i] = v;
                    else
                        for (core::index_t i = 0; i < seg; ++i) d[i] += v;
                } else {
                    const T* s = g + o + l;
                    if (mode == core::grad_mode::assign)
                        for (core::index_t i = 0; i < seg; ++i) d[i] = scale * s[i];
                    else
                        for (core::index_t i = 0; i < seg; ++i) d[i] += scale * s[i];
                }
                pos += seg;
            }
        });
    }

private:
    template <class T>
    static void forward_inner_reduced(const T* x, T* y, const reduce_plan& p, T scale) {
        const core::index_t per_out = p.reduced, inner = p.inner();
        const core::index_t total = p.kept * per_out;
        core::scratch_scope scratch;
        const core::index_t max_chunks = core::reduction_partials;
        // Per chunk: the first and last outputs it shares (index -1 when none) and their partials.
        core::index_t* shared_o = scratch.allocate<core::index_t>(core::shape{2 * max_chunks}).data();
        T* shared_sum = scratch.allocate<T>(core::shape{2 * max_chunks}).data();
        const core::index_t chunks =
            detail::for_each_reduce_chunk(total, detail::reduce_grain, [&](core::index_t c, core::index_t lo, core::index_t hi) {
                shared_o[2 * c] = shared_o[2 * c + 1] = -1;
                core::index_t pos = lo;
                while (pos < hi) {
                    const core::index_t o = pos / per_out, q0 = pos % per_out;
                    const core::index_t q1 = std::min(per_out, q0 + (hi - pos));
                    T acc = T(0);
                    for (core::index_t q = q0; q < q1;) {
                        const core::index_t r = q / inner, l = q % inner;
                        const core::index_t seg = std::min(inner - l, q1 - q);
                        acc += detail::reduce_sum_contiguous(x + p.x_offset(o, r) + l, seg);
                        q += seg;
                    }
                    if (q0 == 0 && q1 == per_out) {
                        y[o] = scale * acc;
                    } else {
                        const core::index_t slot = shared_o[2 * c] < 0 ? 2 * c : 2 * c + 1;
                        shared_o[slot] = o;
                        shared_sum[slot] = acc;
                    }
                    pos += q1 - q0;
                }
            });
        for (core::index_t s = 0; s < 2 * chunks; ++s)
            if (shared_o[s] >= 0) y[shared_o[s]] = T(0);
        for (core::index_t s = 0; s < 2 * chunks; ++s)
            if (shared_o[s] >= 0) y[shared_o[s]] += shared_sum[s];
        for (core::index_t s = 0; s < 2 * chunks; ++s) {
            if (shared_o[s] < 0) continue;
            bool first = true;
            for (core::index_t t = 0; t < s; ++t) first &= shared_o[t] != shared_o[s];
            if (first) y[shared_o[s]] *= scale;
        }
    }

    template <class T>
    static void forward_inner_kept(const T* x, T* y, const reduce_plan& p, T scale) {
        const core::index_t inner = p.inner(), rows = p.reduced;
        const core::index_t grain = std::max<core::index_t>(1, detail::reduce_grain / std::max<core::index_t>(rows, 1));
        detail::for_each_reduce_chunk(p.kept, grain, [&](core::index_t, core::index_t lo, core::index_t hi) {
            core::index_t pos = lo;
            while (pos < hi) {
                const core::index_t ob = pos / inner, l = pos % inner;
                const core::index_t seg = std::min(inner - l, hi - pos);
                T* out = y + pos;
                const T* first = x + p.x_offset(ob, 0) + l;
                for (core::index_t i = 0; i < seg; ++i) out[i] = first[i];
                for (core::index_t r = 1; r < rows; ++r) {
                    const T* row = x + p.x_offset(ob, r) + l;
                    for (core::index_t i = 0; i < seg; ++i) out[i] += row[i];
                }
                for (core::index_t i = 0; i < seg; ++i) out[i] *= scale;
                pos += seg;
            }
        });
    }
};

}  // namespace imbdef::ops
