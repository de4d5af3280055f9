#pragma once
// Depthwise 3 x 3 stencils with a border rule: the shared definition of the Sobel gradients and the
// binomial low-pass.
//
//   y[n, c, i, j] = sum_{a, b in {0, 1, 2}} k[a][b] * x_e[n, c, i + a - 1, j + b - 1]
//
// (a correlation, same-size output), where x_e extends x past its edges by zeros (border zero) or
// by the nearest edge sample (border replicate). Both are linear in x: with P the extension and V
// the valid correlation, y = V P x and the adjoint is dx = P^T V^T dy, V^T the full correlation
// with the kernel flipped, P^T adding every extended sample back onto the edge sample it copies
// (nothing for zeros). A linear op's tangent rules are the op itself (forward on x_dot, adjoint
// on dy_dot).

#include <array>
#include <string_view>

namespace imbdef::ops {

enum class border_mode : unsigned char {
    zero,       // samples outside the image are 0
    replicate,  // samples outside the image repeat the nearest edge sample
};

constexpr std::string_view to_string(border_mode b) noexcept {
    return b == border_mode::zero ? "zero" : "replicate";
}

// Row-major 3 x 3 coefficients: k[3 a + b] multiplies the sample at offset (a - 1, b - 1).
using stencil3x3 = std::array<double, 9>;

}  // namespace imbdef::ops
