#pragma once
// ops::color_matrix: ADA's per-sample colour transform rgb' = C[:3, :3] rgb + C[:3, 3], and the
// luma rule for one-channel images (def/color_matrix.hpp), with its transpose and tangent.
//
//   color_matrix(x, matrix, y)                    x, y [N, C, H, W] with C = 3 (RGB) or 1 (luma);
//                                                 matrix [N, 3, 4] or [N, 4, 4] (row 3 ignored)
//   color_matrix_backward(matrix, dy, dx, mode)   dx = M^T dy
//   color_matrix_forward_tangent(matrix, x_dot, y_dot)   y_dot = M x_dot (no offset)
//
// Contract:
// - Shapes as above, else imbdef::error naming the op, the argument and both shapes.
// - The matrix is a constant of the augmentation: no matrix gradient.
// - The backward is linear in dy and does not depend on x: its tangent is
//   color_matrix_backward(matrix, dy_dot).
// - Under grad_mode::none dx is not checked and may be empty. Outputs must not overlap inputs.

#include <concepts>
#include <string>
#include <string_view>
#include <type_traits>

#include "../core/device.hpp"
#include "../core/error.hpp"
#include "../core/grad_mode.hpp"
#include "../core/tensor.hpp"
#include "backend.hpp"
#include "check.hpp"
#include "cpu/color_matrix.hpp"
#include "def/color_matrix.hpp"

namespace imbdef::ops {

namespace detail {
// Checks an image [N, 1 or 3, H, W] and its matrix; returns the matrix's sample stride.
inline core::index_t check_color_matrix(std::string_view op, std::string_view image, const core::shape& x,
                                        const core::shape& matrix) {
    IMBDEF_REQUIRE(x.rank() == 4 && (x[1] == 3 || x[1] == 1), std::string(op),
                   std::string(image) + " of shape [N, 3, H, W] or [N, 1, H, W]",
                   std::string(image) + " of shape " + x.to_string());
    IMBDEF_REQUIRE(matrix.rank() == 3 && matrix[0] == x[0] && (matrix[1] == 3 || matrix[1] == 4) && matrix[2] == 4,
                   std::string(op),
                   "matrix of shape [" + std::to_string(x[0]) + ", 3, 4] or [" + std::to_string(x[0]) +
                       ", 4, 4] (N from " + std::string(image) + ")",
                   "matrix of shape " + matrix.to_string());
    return matrix[1] * 4;
}
}  // namespace detail

template <std::floating_point T, core::device_tag Device>
void color_matrix(std::type_identity_t<core::const_view<T, Device>> x,
                  std::type_identity_t<core::const_view<T, Device>> matrix, core::view<T, Device> y) {
    constexpr std::string_view op = color_matrix_op::name;
    const core::index_t stride = detail::check_color_matrix(op, "x", x.shape(), matrix.shape());
    require_shape_of(op, "y", y.shape(), "x", x.shape());
    if (y.empty()) return;
    backend<color_matrix_op, Device>::forward(x, matrix, stride, y, true);
}

template <std::floating_point T, core::device_tag Device>
void color_matrix_forward_tangent(std::type_identity_t<core::const_view<T, Device>> matrix,
                                  std::type_identity_t<core::const_view<T, Device>> x_dot, core::view<T, Device> y_dot) {
    constexpr std::string_view op = "ops::color_matrix_forward_tangent";
    const core::index_t stride = detail::check_color_matrix(op, "x_dot", x_dot.shape(), matrix.shape());
    require_shape_of(op, "y_dot", y_dot.shape(), "x_dot", x_dot.shape());
    if (y_dot.empty()) return;
    backend<color_matrix_op, Device>::forward(x_dot, matrix, stride, y_dot, false);
}

template <std::floating_point T, core::device_tag Device>
void color_matrix_backward(std::type_identity_t<core::const_view<T, Device>> matrix,
                           std::type_identity_t<core::const_view<T, Device>> dy, core::view<T, Device> dx,
                           core::grad_mode mode) {
    constexpr std::string_view op = "ops::color_matrix_backward";
    const core::index_t stride = detail::check_color_matrix(op, "dy", dy.shape(), matrix.shape());
    if (mode == core::grad_mode::none) return;
    require_shape_of(op, "dx", dx.shape(), "dy", dy.shape());
    if (dx.empty()) return;
    backend<color_matrix_op, Device>::backward(matrix, stride, dy, dx, mode);
}

}  // namespace imbdef::ops
