#pragma once
// Sobel gradients of images and feature maps (the edge maps of the ESL loss and the boundary
// transition metric), depthwise on NCHW with the border rules of def/stencil3x3.hpp:
//
//   gx = k_x (*) x,  k_x = s [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]      (correlation, same size)
//   gy = k_y (*) x,  k_y = k_x transposed
//   m  = sqrt(gx^2 + gy^2 + eps)
//
// with s = 1/8 when normalized (a ramp of slope 1 per pixel then has gradient 1), else 1.
// Gradients: dx = K_x^T dgx + K_y^T dgy (K^T: the adjoint of the stencil under the border rule);
// for the magnitude, dgx = dm gx / m and dgy = dm gy / m. gx and gy are linear in x, so their
// tangent rules are the ops themselves (sobel on x_dot, sobel_backward on the dy_dots); the
// magnitude is used on the generator's side only and has none.

#include <cmath>
#include <string_view>

#include "../../core/macros.hpp"
#include "stencil3x3.hpp"

namespace imbdef::ops {

struct sobel_params {
    // Replicate by default: a zero border would add false edges along the frame of an image.
    border_mode border = border_mode::replicate;
    bool normalized = true;
    double eps = 1e-6;  // inside the magnitude's square root: finite gradient on flat regions
};

struct sobel_op {
    static constexpr std::string_view name = "ops::sobel";

    static constexpr stencil3x3 kernel_x(bool normalized) noexcept {
        const double s = normalized ? 0.125 : 1.0;
        return {-s, 0.0, s, -2 * s, 0.0, 2 * s, -s, 0.0, s};
    }
    static constexpr stencil3x3 kernel_y(bool normalized) noexcept {
        const double s = normalized ? 0.125 : 1.0;
        return {-s, -2 * s, -s, 0.0, 0.0, 0.0, s, 2 * s, s};
    }

    template <class T>
    IMBDEF_HD static T magnitude(T gx, T gy, T eps) noexcept {
        using std::sqrt;
        return sqrt(gx * gx + gy * gy + eps);
    }
};

struct sobel_magnitude_op {
    static constexpr std::string_view name = "ops::sobel_magnitude";
};

}  // namespace imbdef::ops
