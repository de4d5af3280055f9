#pragma once
// Bilinear grid sampling as torch.nn.functional.grid_sample(mode='bilinear', padding_mode='zeros',
// align_corners=False), the op ADA's geometric augmentation runs (reference section 6):
//
//   ix = ((gx + 1) W - 1) / 2,  iy = ((gy + 1) H - 1) / 2         (grid (gx, gy) in [-1, 1])
//   x0 = floor(ix), y0 = floor(iy), fx = ix - x0, fy = iy - y0
//   y[n, c, i, j] = sum over the four taps (x0 + a, y0 + b), a, b in {0, 1}, inside the image, of
//                   (a ? fx : 1 - fx) (b ? fy : 1 - fy) x[n, c, y0 + b, x0 + a]
// Taps outside the image contribute zero. The grid is constant (no grid gradient), so the op is
// linear in x: backward scatter-adds dy along the same taps (the transpose), and the tangent
// rules are the forward on x_dot and the backward on dy_dot.

#include <cmath>
#include <string_view>

#include "../../core/macros.hpp"
#include "../../core/shape.hpp"

namespace imbdef::ops {

struct grid_sample_op {
    static constexpr std::string_view name = "ops::grid_sample";

    // Grid coordinate g in [-1, 1] to input pixel coordinate, align_corners=False.
    template <class T>
    IMBDEF_HD static T unnormalize(T g, core::index_t extent) noexcept {
        return ((g + T(1)) * static_cast<T>(extent) - T(1)) / T(2);
    }

    // Whether all four taps of (ix, iy) lie inside the image: then they are base, base + 1,
    // base + W, base + W + 1 with base = floor(iy) W + floor(ix), and no tap needs a check.
    template <class T>
    IMBDEF_HD static bool interior(T ix, T iy, core::index_t height, core::index_t width) noexcept {
        return ix >= T(0) && iy >= T(0) && ix < static_cast<T>(width - 1) && iy < static_cast<T>(height - 1);
    }

    // Whether no tap lies inside the image (also true for NaN coordinates): the output is 0.
    template <class T>
    IMBDEF_HD static bool outside(T ix, T iy, core::index_t height, core::index_t width) noexcept {
        return !(ix > T(-1) && iy > T(-1) && ix < static_cast<T>(width) && iy < static_cast<T>(height));
    }

    // The interior case: the base offset and the fractional parts (fx, fy).
    template <class T>
    IMBDEF_HD static core::index_t interior_base(T ix, T iy, core::index_t width, T& fx, T& fy) noexcept {
        const T x0 = std::floor(ix), y0 = std::floor(iy);
        fx = ix - x0;
        fy = iy - y0;
        return static_cast<core::index_t>(y0) * width + static_cast<core::index_t>(x0);
    }

    // The general case, for pixels near or beyond the border: tap 2 b + a is (x0 + a, y0 + b),
    // with its plane offset, its weight and whether it lies inside. A tap outside must be skipped,
    // not multiplied by a zero weight, so that an infinite value elsewhere cannot leak in.
    // Coordinates are clamped before the integer conversion (NaN becomes an outside position).
    template <class T>
    IMBDEF_HD static void taps(T ix, T iy, core::index_t height, core::index_t width, core::index_t offset[4],
                               T weight[4], bool inside[4]) noexcept {
        const T fw = static_cast<T>(width), fh = static_cast<T>(height);
        ix = ix > T(-2) ? (ix < fw + T(1) ? ix : fw + T(1)) : T(-2);
        iy = iy > T(-2) ? (iy < fh + T(1) ? iy : fh + T(1)) : T(-2);
        const T fx0 = std::floor(ix), fy0 = std::floor(iy);
        const core::index_t x0 = static_cast<core::index_t>(fx0), y0 = static_cast<core::index_t>(fy0);
        const T fx = ix - fx0, fy = iy - fy0;
        const T wx[2] = {T(1) - fx, fx}, wy[2] = {T(1) - fy, fy};
        for (int b = 0; b < 2; ++b)
            for (int a = 0; a < 2; ++a) {
                const core::index_t xx = x0 + a, yy = y0 + b;
                const int k = 2 * b + a;
                inside[k] = xx >= 0 && xx < width && yy >= 0 && yy < height;
                offset[k] = inside[k] ? yy * width + xx : 0;
                weight[k] = wx[a] * wy[b];
            }
    }
};

}  // namespace imbdef::ops
