#pragma once
// The depthwise binomial 3 x 3 low-pass of PGDI's high-frequency residual H = F - lowpass(F)
// (METHOD.md), on NCHW with the border rules of def/stencil3x3.hpp:
//
//   y = k (*) x,  k = [1, 2, 1]^T [1, 2, 1] / 16        (correlation, same size)
//
// Linear: the gradient is the stencil's adjoint under the border rule, and the tangent rules are
// the op itself (forward on x_dot, backward on dy_dot).

#include <string_view>

#include "stencil3x3.hpp"

namespace imbdef::ops {

struct binomial_lowpass_params {
    // Replicate by default: the low-pass of a constant map is that constant, so H = 0 there, at
    // the border too.
    border_mode border = border_mode::replicate;
};

struct binomial_lowpass_op {
    static constexpr std::string_view name = "ops::binomial_lowpass";

    static constexpr stencil3x3 kernel() noexcept {
        return {1.0 / 16, 2.0 / 16, 1.0 / 16, 2.0 / 16, 4.0 / 16, 2.0 / 16, 1.0 / 16, 2.0 / 16, 1.0 / 16};
    }
};

}  // namespace imbdef::ops
