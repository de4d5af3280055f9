#pragma once
// Image resize for data preprocessing and metrics: separable, chosen per axis by the size change.
//
// - Shrinking (out < in), area averaging by any factor s = in / out: output sample o covers the
//   input interval [o s, (o + 1) s) and averages the samples under it weighted by their overlap,
//   y[o] = sum_j |[j, j + 1) & [o s, (o + 1) s)| / s * x[j].
// - Enlarging (out > in), bicubic with Keys' kernel (parameter a, default -0.5 as in Keys 1981 and
//   PIL; OpenCV and PyTorch use -0.75) on half-pixel centres, src = (o + 0.5) in / out - 0.5,
//   y[o] = sum_{j = floor(src) - 1}^{floor(src) + 2} W(src - j) x[clamp(j, 0, in - 1)].
// - Equal sizes: the identity.
// y = R_y x R_x^T per channel plane; linear, so the gradient is dx = R_y^T dy R_x and the tangent
// rules are the op itself.

#include <cmath>
#include <string_view>

#include "../../core/macros.hpp"

namespace imbdef::ops {

struct resize_params {
    double cubic_a = -0.5;  // Keys' parameter for enlarging
};

struct resize_op {
    static constexpr std::string_view name = "ops::resize";

    // Keys' cubic convolution kernel W(t).
    IMBDEF_HD static double cubic(double t, double a) noexcept {
        t = t < 0 ? -t : t;
        if (t <= 1.0) return ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0;
        if (t < 2.0) return ((a * t - 5.0 * a) * t + 8.0 * a) * t - 4.0 * a;
        return 0.0;
    }
};

}  // namespace imbdef::ops
