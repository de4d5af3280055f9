#pragma once
// Leaky ReLU with a gain: StyleGAN's "lrelu" activation (bias_act.py: alpha 0.2, gain sqrt 2).
//   forward   y  = gain * (x >= 0 ? x : slope * x)
//   backward  dx = dy * gain * (x >= 0 ? 1 : slope)
// The derivative at x = 0 is the right one. The factor depends on the sign of x only, so the
// tangent pass of R1 applies the same rule to x_dot (and dx_dot = dy_dot times that factor).
//
// This header is the op's single definition, device-free: the tag that selects a backend and the
// per-element rules that both the CPU loop and the CUDA kernel call.

#include <numbers>
#include <string_view>

#include "../../core/macros.hpp"
#include "rounding.hpp"

namespace imbdef::ops {

// Hyperparameters in double; each backend runs them converted to the element type.
struct leaky_relu_params {
    double slope = 0.2;
    double gain = std::numbers::sqrt2;
};

struct leaky_relu_op {
    static constexpr std::string_view name = "ops::leaky_relu";

    template <class T>
    IMBDEF_HD static T forward(T x, T slope, T gain) noexcept {
        return mul_rn(gain, x >= T(0) ? x : mul_rn(slope, x));
    }

    // The gradient for one element; its last operation is a rounded product, so accumulating it
    // gives the same bits on every device.
    template <class T>
    IMBDEF_HD static T backward(T x, T dy, T slope, T gain) noexcept {
        const T g = mul_rn(dy, gain);
        return x >= T(0) ? g : mul_rn(g, slope);
    }
};

}  // namespace imbdef::ops
