#pragma once
// ops::grid_sample: bilinear sampling with zero padding and align_corners=False, as
// torch.nn.functional.grid_sample (def/grid_sample.hpp), and its transpose.
//
//   grid_sample(x, grid, y)                    x [N, C, H, W], grid [N, Ho, Wo, 2] (x then y, in
//                                              [-1, 1]) -> y [N, C, Ho, Wo]
//   grid_sample_backward(grid, dy, dx, mode)   dx [N, C, H, W] (scatter-add of dy along the taps)
//
// Contract:
// - Shapes as above, else imbdef::error naming the op, the argument and both shapes.
// - The grid is constant: there is no grid gradient.
// - Linear in x, so the tangent rules of R1 are the ops themselves: y_dot = grid_sample(x_dot,
//   grid) and dx_dot = grid_sample_backward(grid, dy_dot).
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
#include "cpu/grid_sample.hpp"
#include "def/grid_sample.hpp"

namespace imbdef::ops {

namespace detail {
inline void check_grid_sample_grid(std::string_view op, const core::shape& grid, core::index_t batch) {
    IMBDEF_REQUIRE(grid.rank() == 4 && grid[3] == 2 && grid[0] == batch, std::string(op),
                   "grid of shape [" + std::to_string(batch) + ", Ho, Wo, 2]", "grid of shape " + grid.to_string());
}
}  // namespace detail

template <std::floating_point T, core::device_tag Device>
void grid_sample(std::type_identity_t<core::const_view<T, Device>> x,
                 std::type_identity_t<core::const_view<T, Device>> grid, core::view<T, Device> y) {
    constexpr std::string_view op = grid_sample_op::name;
    IMBDEF_REQUIRE(x.rank() == 4, std::string(op), "x of rank 4 [N, C, H, W]", "x of shape " + x.shape().to_string());
    detail::check_grid_sample_grid(op, grid.shape(), x.size(0));
    require_shape_of(op, "y", y.shape(), "[N, C] of x and [Ho, Wo] of grid",
                     core::shape{x.size(0), x.size(1), grid.size(1), grid.size(2)});
    if (y.empty()) return;
    backend<grid_sample_op, Device>::forward(x, grid, y);
}

template <std::floating_point T, core::device_tag Device>
void grid_sample_backward(std::type_identity_t<core::const_view<T, Device>> grid,
                          std::type_identity_t<core::const_view<T, Device>> dy, core::view<T, Device> dx,
                          core::grad_mode mode) {
    constexpr std::string_view op = "ops::grid_sample_backward";
    if (mode == core::grad_mode::none) return;
    IMBDEF_REQUIRE(dx.rank() == 4, std::string(op), "dx of rank 4 [N, C, H, W]",
                   "dx of shape " + dx.shape().to_string());
    detail::check_grid_sample_grid(op, grid.shape(), dx.size(0));
    require_shape_of(op, "dy", dy.shape(), "[N, C] of dx and [Ho, Wo] of grid",
                     core::shape{dx.size(0), dx.size(1), grid.size(1), grid.size(2)});
    if (dx.empty()) return;
    backend<grid_sample_op, Device>::backward(grid, dy, dx, mode);
}

}  // namespace imbdef::ops
