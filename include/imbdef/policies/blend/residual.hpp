#pragma once
// The arithmetic every blend shares once its gate S is known per pixel (concept.hpp):
//   F = F_S + beta S F_R;  dF_S = dF, dF_R = beta S dF, dM = beta S' sum_c dF F_R.
// Internal: blends call these, users never need to. Work is split into tiles of one sample and up
// to blend_tile pixels; a tile evaluates the gate once per pixel and then walks the channels, so
// every channel row is read contiguously and the gate costs the same for C channels as for one.

#include <algorithm>
#include <array>
#include <type_traits>

#include "../../core/grad_mode.hpp"
#include "../../core/parallel.hpp"
#include "../../core/tensor.hpp"

namespace imbdef::policies::detail {

inline constexpr core::index_t blend_tile = 1024;

// The slope of a gate with no gradient (a hard gate): dM = 0, written as zeros under assign and
// left alone under accumulate.
struct zero_slope {};

// Calls tile(sample, first_pixel, pixel_count) over all tiles of an [N, C, H, W] blend, in parallel.
template <class Tile>
void for_each_blend_tile(core::index_t n, core::index_t c, core::index_t hw, const Tile& tile) {
    if (n == 0 || hw == 0) return;
    const core::index_t tiles = (hw + blend_tile - 1) / blend_tile;
    const core::index_t work = std::max<core::index_t>(1, c * std::min(hw, blend_tile));
    core::parallel_for(0, n * tiles, std::max<core::index_t>(1, 32768 / work), [&](core::index_t lo, core::index_t hi) {
        for (core::index_t t = lo; t < hi; ++t) {
            const core::index_t first = (t % tiles) * blend_tile;
            tile(t / tiles, first, std::min(blend_tile, hw - first));
        }
    });
}

// F = F_S + beta S F_R, with gate(sample, pixel) -> S. F may be F_S.
template <class T, class Gate>
void blend_residual_forward(T beta, core::const_view<T> fs, core::const_view<T> fr, core::view<T> f, const Gate& gate) {
    const core::index_t c = fs.size(1), hw = fs.size(2) * fs.size(3);
    for_each_blend_tile(fs.size(0), c, hw, [&](core::index_t s, core::index_t first, core::index_t count) {
        std::array<T, blend_tile> g;
        for (core::index_t i = 0; i < count; ++i) g[i] = beta * gate(s, first + i);
        for (core::index_t ch = 0; ch < c; ++ch) {
            const core::index_t o = (s * c + ch) * hw + first;
            for (core::index_t i = 0; i < count; ++i) f[o + i] = fs[o + i] + g[i] * fr[o + i];
        }
    });
}

// The backward of blend_residual_forward under mode (not none), with slope(sample, pixel) -> S'(M)
// or zero_slope.
template <class T, class Gate, class Slope>
void blend_residual_backward(T beta, core::const_view<T> fr, core::const_view<T> df, core::view<T> dfs,
                             core::view<T> dfr, core::view<T> dm, core::grad_mode mode, const Gate& gate,
                             const Slope& slope) {
    constexpr bool mask_gradient = !std::is_same_v<Slope, zero_slope>;
    const core::index_t c = df.size(1), hw = df.size(2) * df.size(3);
    for_each_blend_tile(df.size(0), c, hw, [&](core::index_t s, core::index_t first, core::index_t count) {
        std::array<T, blend_tile> g;
        std::array<T, blend_tile> acc;
        for (core::index_t i = 0; i < count; ++i) {
            g[i] = beta * gate(s, first + i);
            acc[i] = T(0);
        }
        for (core::index_t ch = 0; ch < c; ++ch) {
            const core::index_t o = (s * c + ch) * hw + first;
            for (core::index_t i = 0; i < count; ++i) {
                const T d = df[o + i];
                core::store_grad(dfs[o + i], d, mode);
                core::store_grad(dfr[o + i], g[i] * d, mode);
                if constexpr (mask_gradient) acc[i] += d * fr[o + i];
            }
        }
        T* dms = dm.data() + s * hw + first;
        for (core::index_t i = 0; i < count; ++i) {
            if constexpr (mask_gradient)
                core::store_grad(dms[i], beta * slope(s, first + i) * acc[i], mode);
            else if (mode == core::grad_mode::assign)
                dms[i] = T(0);
        }
    });
}

}  // namespace imbdef::policies::detail
