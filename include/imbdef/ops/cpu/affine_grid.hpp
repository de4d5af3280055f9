#pragma once
// The CPU backend of ops::affine_grid (def/affine_grid.hpp): rows (n, i) over the pool.

#include <algorithm>

#include "../../core/parallel.hpp"
#include "../../core/tensor.hpp"
#include "../backend.hpp"
#include "../def/affine_grid.hpp"

namespace imbdef::ops {

template <>
struct backend<affine_grid_op, core::cpu> {
    // theta: rows 0 and 1 of each sample's matrix, `row_stride` elements apart (3 for [N, 2, 3]
    // and [N, 3, 3]), `sample_stride` between samples.
    template <class T>
    static void forward(core::const_view<T, core::cpu> theta, core::index_t sample_stride, core::view<T, core::cpu> grid) {
        const core::index_t n = grid.size(0), h = grid.size(1), w = grid.size(2);
        const T* th = theta.data();
        T* g = grid.data();
        const core::index_t grain = std::max<core::index_t>(1, (core::index_t{1} << 14) / std::max<core::index_t>(w, 1));
        core::parallel_for(0, n * h, grain, [=](core::index_t lo, core::index_t hi) {
            for (core::index_t row = lo; row < hi; ++row) {
                const core::index_t s = row / h, i = row % h;
                const T* m = th + s * sample_stride;
                const T y = affine_grid_op::base<T>(i, h);
                const T cx = m[1] * y + m[2], cy = m[4] * y + m[5];
                T* out = g + row * w * 2;
                for (core::index_t j = 0; j < w; ++j) {
                    const T x = affine_grid_op::base<T>(j, w);
                    out[2 * j] = m[0] * x + cx;
                    out[2 * j + 1] = m[3] * x + cy;
                }
            }
        });
    }
};

}  // namespace imbdef::ops
