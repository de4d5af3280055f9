#pragma once
// The sampling grid of an affine map, as torch.nn.functional.affine_grid(theta, size,
// align_corners=False), which ADA feeds to grid_sample with the top two rows of its inverse 3x3
// geometric matrix:
//   base x_j = (2 j + 1) / W - 1,  y_i = (2 i + 1) / H - 1   (pixel centres in [-1, 1])
//   grid[n, i, j] = (t00 x_j + t01 y_i + t02,  t10 x_j + t11 y_i + t12)
// The grid is a constant of the augmentation: no gradient.

#include <string_view>

#include "../../core/macros.hpp"
#include "../../core/shape.hpp"

namespace imbdef::ops {

struct affine_grid_op {
    static constexpr std::string_view name = "ops::affine_grid";

    // The normalised centre of pixel j of `extent` pixels.
    template <class T>
    IMBDEF_HD static T base(core::index_t j, core::index_t extent) noexcept {
        return static_cast<T>(2 * j + 1) / static_cast<T>(extent) - T(1);
    }
};

}  // namespace imbdef::ops
