#pragma once
// ops::affine_grid: the sampling grid of per-sample affine maps, as
// torch.nn.functional.affine_grid(theta, [N, C, H, W], align_corners=False) (def/affine_grid.hpp).
//
//   affine_grid(theta, grid)    theta [N, 2, 3] or [N, 3, 3] (the third row is ignored, as ADA
//                               passes G_inv[:, :2, :]) -> grid [N, H, W, 2] (x then y)
//
// Shapes are checked (imbdef::error names the op, the argument and both shapes). The grid is a
// constant of the augmentation, so there is no backward.

#include <concepts>
#include <string>
#include <string_view>
#include <type_traits>

#include "../core/device.hpp"
#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "backend.hpp"
#include "cpu/affine_grid.hpp"
#include "def/affine_grid.hpp"

namespace imbdef::ops {

template <std::floating_point T, core::device_tag Device>
void affine_grid(std::type_identity_t<core::const_view<T, Device>> theta, core::view<T, Device> grid) {
    constexpr std::string_view op = affine_grid_op::name;
    IMBDEF_REQUIRE(grid.rank() == 4 && grid.size(3) == 2, std::string(op), "grid of shape [N, H, W, 2]",
                   "grid of shape " + grid.shape().to_string());
    IMBDEF_REQUIRE(theta.rank() == 3 && theta.size(0) == grid.size(0) && (theta.size(1) == 2 || theta.size(1) == 3) &&
                       theta.size(2) == 3,
                   std::string(op), "theta of shape [" + std::to_string(grid.size(0)) + ", 2, 3] or [" +
                                        std::to_string(grid.size(0)) + ", 3, 3] (N from grid)",
                   "theta of shape " + theta.shape().to_string());
    if (grid.empty()) return;
    backend<affine_grid_op, Device>::forward(theta, theta.size(1) * 3, grid);
}

}  // namespace imbdef::ops
