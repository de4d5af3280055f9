#pragma once
// ADA's colour transform (reference section 6): a per-sample affine map of the channel vector,
//   RGB  (C = 3):  y = M x + b         with M = C[:3, :3], b = C[:3, 3] of the sample's matrix
//   luma (C = 1):  y = m x + beta      with m = (1/3) sum_{i,j < 3} C[i, j], beta = (1/3) sum_{i < 3} C[i, 3]
// The luma rule is the reference's: the grey value stands for equal R, G and B, and the output
// is the mean of the three transformed channels. The matrix is a constant of the augmentation.
// Affine in x:
//   dx = M^T dy (luma: m dy),   y_dot = M x_dot (luma: m x_dot; the offset has no tangent),
//   dx_dot = M^T dy_dot.

#include <string_view>

#include "../../core/macros.hpp"

namespace imbdef::ops {

// One sample's coefficients: the 3x3 part and the offset (RGB), or m and beta in m[0], b[0] (luma).
template <class T>
struct color_coefficients {
    T m[9];
    T b[3];
};

struct color_matrix_op {
    static constexpr std::string_view name = "ops::color_matrix";

    // From rows 0..2 of the sample's matrix (4 columns each, rows `stride` apart: 4).
    template <class T>
    IMBDEF_HD static color_coefficients<T> coefficients(const T* c, bool luma) noexcept {
        color_coefficients<T> k{};
        if (luma) {
            T m = T(0), b = T(0);
            for (int i = 0; i < 3; ++i) {
                m += c[4 * i] + c[4 * i + 1] + c[4 * i + 2];
                b += c[4 * i + 3];
            }
            k.m[0] = m / T(3);
            k.b[0] = b / T(3);
        } else {
            for (int i = 0; i < 3; ++i) {
                for (int j = 0; j < 3; ++j) k.m[3 * i + j] = c[4 * i + j];
                k.b[i] = c[4 * i + 3];
            }
        }
        return k;
    }
};

}  // namespace imbdef::ops
