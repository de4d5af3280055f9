#pragma once
// Separable blurs with a same-size output and a zero border (upfirdn2d with the normalised taps
// and pad r on every side, as StyleGAN's filter2d):
//
//   exp2_blur(sigma):     f_k = 2^(-(k / sigma)^2), k in [-r, r], r = floor(3 sigma)
//                         (StyleGAN3's loss blur, reference section 5; effective Gaussian std
//                         sigma / sqrt(2 ln 2)); r = 0 (sigma < 1/3) is the identity.
//   gaussian_blur(sigma): f_k = exp(-k^2 / (2 sigma^2)), k in [-r, r], r = ceil(3 sigma)
//
// both normalised to sum 1, applied along x then y. Linear with a symmetric filter and symmetric
// pads: the adjoint (backward) is the same blur, and the tangent rules are the op itself.

#include <cmath>
#include <string_view>

#include "../../core/macros.hpp"
#include "../../core/shape.hpp"

namespace imbdef::ops {

struct exp2_blur_op {
    static constexpr std::string_view name = "ops::exp2_blur";

    static core::index_t radius(double sigma) noexcept { return static_cast<core::index_t>(std::floor(3.0 * sigma)); }
    // Unnormalised tap k.
    IMBDEF_HD static double tap(core::index_t k, double sigma) noexcept {
        const double t = static_cast<double>(k) / sigma;
        return std::exp2(-t * t);
    }
};

struct gaussian_blur_op {
    static constexpr std::string_view name = "ops::gaussian_blur";

    static core::index_t radius(double sigma) noexcept { return static_cast<core::index_t>(std::ceil(3.0 * sigma)); }
    IMBDEF_HD static double tap(core::index_t k, double sigma) noexcept {
        const double t = static_cast<double>(k) / sigma;
        return std::exp(-0.5 * t * t);
    }
};

}  // namespace imbdef::ops
