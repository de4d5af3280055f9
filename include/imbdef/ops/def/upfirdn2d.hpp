#pragma once
// upfirdn2d: upsample, pad, FIR filter, downsample (reference/stylegan3.md sections 3.5 and 7).
//
// Per axis, for an input of length L: insert up - 1 zeros AFTER each sample (length L * up), pad
// p0 zeros before and p1 after (a negative pad crops), take the valid convolution with the taps
// f (flip_filter = false: a true convolution, f reversed; true: a correlation), keep every
// down-th output starting at 0, multiply by gain:
//   y[o] = gain * sum_{k<F} f'[k] * u[o * down + k],   f'[k] = flip_filter ? f[k] : f[F - 1 - k]
//   out  = (L * up + p0 + p1 - F + down) // down      (floor division)
// A rank-1 filter is applied separably with the same taps on both axes (gain applied once); a
// rank-2 filter [Fy, Fx] is a full 2-D convolution. The op is linear in x; its adjoint (backward)
// is upfirdn2d with up and down swapped, the filter flipped and the pads of `transposed`.
//
// Device-free: the tag, the parameters and the index arithmetic every backend uses.

#include <string_view>

#include "../../core/macros.hpp"
#include "../../core/shape.hpp"

namespace imbdef::ops {

using core::index_t;

namespace detail {
// Python's // and % (floor division, any signs), which the padding formulas rely on:
// (-11) // 2 == -6.
IMBDEF_HD constexpr index_t floor_divide(index_t a, index_t b) noexcept {
    const index_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
IMBDEF_HD constexpr index_t floor_modulo(index_t a, index_t b) noexcept { return a - floor_divide(a, b) * b; }
}  // namespace detail

struct upfirdn2d_params {
    int up_x = 1;
    int up_y = 1;
    int down_x = 1;
    int down_y = 1;
    // [px0, px1, py0, py1]: zeros before / after each axis after upsampling; negative crops.
    index_t pad_x0 = 0;
    index_t pad_x1 = 0;
    index_t pad_y0 = 0;
    index_t pad_y1 = 0;
    double gain = 1.0;
    bool flip_filter = false;

    // The same factors on both axes, pads [px0, px1, py0, py1].
    static constexpr upfirdn2d_params uniform(int up, int down, index_t px0, index_t px1, index_t py0, index_t py1,
                                              double gain = 1.0, bool flip_filter = false) noexcept {
        return {up, up, down, down, px0, px1, py0, py1, gain, flip_filter};
    }
};

// The resampling of one axis: what the backends plan from.
struct upfirdn_axis {
    index_t in = 0;
    int up = 1;
    int down = 1;
    index_t pad0 = 0;
    index_t pad1 = 0;
    index_t taps = 1;

    IMBDEF_HD constexpr index_t out() const noexcept { return detail::floor_divide(in * up + pad0 + pad1 - taps + down, down); }

    // The adjoint axis (section 7): maps out() samples back to `in` samples.
    IMBDEF_HD constexpr upfirdn_axis transposed() const noexcept {
        const index_t o = out();
        return {o, down, up, taps - pad0 - 1, in * up - o * down + pad0 - up + 1, taps};
    }
};

struct upfirdn2d_axis_pair {
    upfirdn_axis x;
    upfirdn_axis y;
};

// The two axes of upfirdn2d on an NCHW input of shape x with a filter of shape f (rank 1: the same
// taps on both axes; rank 2: [Fy, Fx]).
inline upfirdn2d_axis_pair upfirdn2d_axes(const core::shape& x, const core::shape& f, const upfirdn2d_params& p) {
    const index_t fy = f[0];
    const index_t fx = f.rank() == 1 ? f[0] : f[1];
    return {{x[3], p.up_x, p.down_x, p.pad_x0, p.pad_x1, fx}, {x[2], p.up_y, p.down_y, p.pad_y0, p.pad_y1, fy}};
}

struct upfirdn2d_op {
    static constexpr std::string_view name = "ops::upfirdn2d";
};

}  // namespace imbdef::ops
