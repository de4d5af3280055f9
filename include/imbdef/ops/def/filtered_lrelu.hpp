#pragma once
// filtered_lrelu: StyleGAN3's alias-free activation (reference/stylegan3.md section 3.5).
//
//   1. x <- x + b[c]                                   (before padding: the bias does not reach the pad)
//   2. z  = upfirdn2d(x, fu, up, pad [px0, px1, py0, py1], gain up^2)   (separable fu: up per axis)
//   3. a  = gain * z; a <- slope * a where a < 0; a <- +-clamp where |a| > clamp
//   4. y  = upfirdn2d(a, fd, down)                     (no pad, gain 1)
//   out  = (in * up + p0 + p1 - (Fu - 1) - (Fd - 1) + (down - 1)) // down per axis
//
// Only the part of the activated buffer `a` that step 4 reads is computed: act = (out - 1) * down + Fd
// rows and columns from the start. Per element of that buffer a 2-bit code {negative, clamped} is
// kept for the backward pass, four codes per byte along a row, the bytes of 16 consecutive planes
// (p = n C + c) side by side:
//   mask[p / 16, r, i, p mod 16] bits 2l..2l+1 = code of a[n, c, r, 4 i + l]
// (shape [ceil(N C / 16), act_h, ceil(act_w / 4), 16]; the planes-in-lanes CPU backend reads and
// writes one vector of bytes at a time).
// Backward: g3 = (down-FIR)^T dy, g2 = g3 * gain * (negative ? slope : 1) * (clamped ? 0 : 1),
// dx = (up-FIR)^T g2, db[c] = sum_{n, h, w} dx[n, c, h, w]. The op is generator-only: it has no
// tangent rules.
//
// Device-free: the tag, the parameters, the geometry and the per-element rules both backends use.

#include <cmath>
#include <limits>
#include <numbers>
#include <string_view>

#include "../../core/macros.hpp"
#include "../../core/shape.hpp"
#include "rounding.hpp"
#include "upfirdn2d.hpp"

namespace imbdef::ops {

struct filtered_lrelu_params {
    int up = 1;
    int down = 1;
    // [px0, px1, py0, py1] of the up-FIR; negative crops.
    index_t pad_x0 = 0;
    index_t pad_x1 = 0;
    index_t pad_y0 = 0;
    index_t pad_y1 = 0;
    double gain = std::numbers::sqrt2;
    double slope = 0.2;
    // |a| is limited to clamp; infinity means no clamp (StyleGAN's clamp = None).
    double clamp = std::numeric_limits<double>::infinity();
    bool flip_filter = false;
};

// Sizes of one plane's computation. The up axes have their far pad trimmed so that they produce
// exactly the activated buffer the down-FIR reads.
struct filtered_lrelu_geometry {
    upfirdn_axis up_x, up_y;      // x [H, W] -> a [act_h, act_w]
    upfirdn_axis down_x, down_y;  // a [act_h, act_w] -> y [out_h, out_w]
    index_t in_h = 0, in_w = 0;
    index_t act_h = 0, act_w = 0;
    index_t out_h = 0, out_w = 0;
    index_t mask_row_bytes = 0;   // ceil(act_w / 4)

    static constexpr index_t mask_group = 16;  // planes whose mask bytes sit side by side

    // The mask byte holding the code of a[plane, r, x], at bits 2 (x mod 4).
    IMBDEF_HD constexpr index_t mask_byte(index_t plane, index_t r, index_t x) const noexcept {
        return (((plane / mask_group) * act_h + r) * mask_row_bytes + x / 4) * mask_group + plane % mask_group;
    }
};

// fu_y / fu_x and fd_y / fd_x are the filters' extents (1 for "no filter"). Sizes may come out
// non-positive for bad arguments; the front end checks them.
constexpr filtered_lrelu_geometry make_filtered_lrelu_geometry(index_t in_h, index_t in_w, index_t fu_y, index_t fu_x,
                                                               index_t fd_y, index_t fd_x,
                                                               const filtered_lrelu_params& p) noexcept {
    filtered_lrelu_geometry g;
    g.in_h = in_h;
    g.in_w = in_w;
    const index_t full_h = in_h * p.up + p.pad_y0 + p.pad_y1 - fu_y + 1;
    const index_t full_w = in_w * p.up + p.pad_x0 + p.pad_x1 - fu_x + 1;
    g.out_h = detail::floor_divide(full_h - fd_y + p.down, p.down);
    g.out_w = detail::floor_divide(full_w - fd_x + p.down, p.down);
    g.act_h = (g.out_h - 1) * p.down + fd_y;
    g.act_w = (g.out_w - 1) * p.down + fd_x;
    g.up_x = {in_w, p.up, 1, p.pad_x0, p.pad_x1 - (full_w - g.act_w), fu_x};
    g.up_y = {in_h, p.up, 1, p.pad_y0, p.pad_y1 - (full_h - g.act_h), fu_y};
    g.down_x = {g.act_w, 1, p.down, 0, 0, fd_x};
    g.down_y = {g.act_h, 1, p.down, 0, 0, fd_y};
    g.mask_row_bytes = (g.act_w + 3) / 4;
    return g;
}

struct filtered_lrelu_op {
    static constexpr std::string_view name = "ops::filtered_lrelu";

    static constexpr unsigned char negative = 1;
    static constexpr unsigned char clamped = 2;

    // Step 3 on one element; `code` receives {negative, clamped}. NaN passes through unclamped.
    template <class T>
    IMBDEF_HD static T activate(T z, T gain, T slope, T clamp, unsigned char& code) noexcept {
        T a = mul_rn(z, gain);
        const bool neg = a < T(0);
        a = neg ? mul_rn(a, slope) : a;
        const bool cl = a > clamp || a < -clamp;
        code = static_cast<unsigned char>((neg ? negative : 0) | (cl ? clamped : 0));
        return cl ? (a > T(0) ? clamp : -clamp) : a;
    }

    // The derivative of step 3 for an element with mask code `code`.
    template <class T>
    IMBDEF_HD static T derivative(unsigned char code, T gain, T slope) noexcept {
        return (code & clamped) ? T(0) : ((code & negative) ? mul_rn(gain, slope) : gain);
    }
};

}  // namespace imbdef::ops
