#pragma once
// ADA's random transforms, pipeline 'bgc' (reference/stylegan3.md section 6): the options with the
// reference defaults, and one sample's parameters drawn from Philox.
//
// Geometry is a 3x3 matrix g_inv mapping output pixel centres to input positions, in pixel units
// centred on the image (x right, y down, origin at ((W-1)/2, (H-1)/2)), composed in the
// reference's order, each factor applied when its draw fires (probability multiplier * p):
//   g_inv = xflip * rotate90 * int-translate * scale * pre-rotate * aniso * post-rotate * frac-translate
// with the inverses of: xflip (scale x by -1, half the time), a quarter turn k ~ U{0..3},
// translation by round(U(-xint_max, xint_max) * (W, H)) pixels, isotropic scale 2^N(0, scale_std^2),
// rotations by U(-pi, pi) * rotate_max (each firing with p_rot = 1 - sqrt(1 - rotate * p), so that
// one of the two fires with about probability p), anisotropic scale (s, 1/s) with s = 2^N(0, aniso_std^2),
// translation by N(0, xfrac_std^2) * (W, H).
// Colour is an affine map of the RGB vector, C = saturation * hue * lumaflip * contrast * brightness
// (4x4 homogeneous, the last factor applied first): offset N(0, brightness_std^2) on every channel,
// gain 2^N(0, contrast_std^2), the Householder reflection I - 2 v v^T about the luma axis
// v = (1, 1, 1)/sqrt(3) (half the time), a rotation by U(-pi, pi) * hue_max about v, and gain
// 2^N(0, saturation_std^2) off v. For a grey image the colour map is the reference's luma reduction
// y = m x + beta (m and beta the means of C's rows): brightness adds, contrast scales, lumaflip
// negates (about 0) and hue and saturation leave it unchanged, so they are not applied.
//
// Random words: a sample takes 8 Philox blocks (32 words) from the first block boundary at or
// after the caller's offset, sample s at block first + 8 s: uniforms from words 0..23 (the table
// below), normals from blocks 6 and 7. Every word has a fixed role whatever p and the options, so
// changing p never shifts another draw.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>

#include "../../core/philox.hpp"
#include "../../core/shape.hpp"

namespace imbdef::policies {

struct ada_options {
    // Tuning of p (ada_tuner): target E[sign D(real)], images for p to move by 1 (kimg), steps
    // between adjustments.
    double target = 0.6;
    double speed_kimg = 500.0;
    int interval = 4;
    // Probability multipliers: each transform fires with probability multiplier * p ('bgc': all 1).
    double xflip = 1.0;
    double rotate90 = 1.0;
    double xint = 1.0;
    double scale = 1.0;
    double rotate = 1.0;
    double aniso = 1.0;
    double xfrac = 1.0;
    double brightness = 1.0;
    double contrast = 1.0;
    double lumaflip = 1.0;
    double hue = 1.0;
    double saturation = 1.0;
    // Strengths (the reference's defaults).
    double xint_max = 0.125;      // integer translation, a fraction of the image size
    double scale_std = 0.2;       // log2 of the isotropic scale
    double rotate_max = 1.0;      // rotation angle, a fraction of pi
    double aniso_std = 0.2;       // log2 of the anisotropic scale
    double xfrac_std = 0.125;     // fractional translation, a fraction of the image size
    double brightness_std = 0.2;  // offset
    double contrast_std = 0.5;    // log2 of the gain
    double hue_max = 1.0;         // hue rotation angle, a fraction of pi
    double saturation_std = 1.0;  // log2 of the gain off the luma axis
    // A geometric transform that maps pixel centres onto pixel centres (flips, quarter turns,
    // integer translations and their products) runs as an exact copy with reflected indices, the
    // limit the reference's resampling reaches up to filter rounding; false resamples it like the
    // reference.
    bool exact_blits = true;
};

namespace detail {

inline constexpr std::uint64_t ada_blocks_per_sample = 8;

// Roles of a sample's uniform words.
enum ada_word : int {
    w_xflip = 0, w_xflip_on, w_rot90, w_rot90_on, w_xint_x, w_xint_y, w_xint_on, w_scale_on, w_rot_pre,
    w_rot_pre_on, w_aniso_on, w_rot_post, w_rot_post_on, w_xfrac_on, w_brightness_on, w_contrast_on,
    w_lumaflip, w_lumaflip_on, w_hue, w_hue_on, w_saturation_on
};
// Roles of a sample's normal draws.
enum ada_normal : int { n_scale = 0, n_aniso, n_xfrac_x, n_xfrac_y, n_brightness, n_contrast, n_saturation };

// Row-major 3x3 affine matrix (last row 0 0 1).
struct mat3 {
    double a[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};

    friend mat3 operator*(const mat3& l, const mat3& r) noexcept {
        mat3 m;
        for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 3; ++j)
                m.a[3 * i + j] = l.a[3 * i] * r.a[j] + l.a[3 * i + 1] * r.a[3 + j] + l.a[3 * i + 2] * r.a[6 + j];
        return m;
    }
    static mat3 translate(double tx, double ty) noexcept { return {{1, 0, tx, 0, 1, ty, 0, 0, 1}}; }
    static mat3 scale(double sx, double sy) noexcept { return {{sx, 0, 0, 0, sy, 0, 0, 0, 1}}; }
    static mat3 rotate(double c, double s) noexcept { return {{c, -s, 0, s, c, 0, 0, 0, 1}}; }
    bool is_identity() const noexcept {
        const mat3 i;
        for (int k = 0; k < 9; ++k)
            if (a[k] != i.a[k]) return false;
        return true;
    }
    // (x, y) -> first and second row applied to (x, y, 1).
    double x(double px, double py) const noexcept { return a[0] * px + a[1] * py + a[2]; }
    double y(double px, double py) const noexcept { return a[3] * px + a[4] * py + a[5]; }
};

// Row-major 4x4 homogeneous colour matrix.
struct mat4 {
    double a[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};

    friend mat4 operator*(const mat4& l, const mat4& r) noexcept {
        mat4 m;
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 4; ++j) {
                double s = 0;
                for (int k = 0; k < 4; ++k) s += l.a[4 * i + k] * r.a[4 * k + j];
                m.a[4 * i + j] = s;
            }
        return m;
    }
};

struct ada_sample {
    enum class geometry : unsigned char { identity, blit, resample };
    geometry kind = geometry::identity;
    mat3 g_inv{};  // output centred pixel position -> input centred position
    // blit: the input pixel of output pixel (i, j) is (map[3] j + map[4] i + map[5], map[0] j + map[1] i + map[2]),
    // each index reflected into the image.
    core::index_t map[6] = {1, 0, 0, 0, 1, 0};
    // Where backward keeps this sample's colour-transposed gradient ([0, resampled) for the
    // resampling path, after them for blits); -1 when not needed.
    core::index_t slot = -1;
    bool color = false;
    double m[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};  // RGB: the 3x3 part of C; grey: m[0]
    double b[3] = {0, 0, 0};                    // RGB: the offset column of C; grey: b[0]
};

// The 3x3 matrix of a quarter turn k (exact integers, so a pure turn stays a blit).
inline mat3 quarter_turn(int k) noexcept {
    constexpr double c[4] = {1, 0, -1, 0};
    constexpr double s[4] = {0, 1, 0, -1};
    return mat3::rotate(c[k & 3], s[k & 3]);
}

// Rotation by theta about the unit axis v (Rodrigues), as a 4x4 colour matrix.
inline mat4 rotate_about(const double v[3], double theta) noexcept {
    const double s = std::sin(theta), c = std::cos(theta), cc = 1 - c;
    const double x = v[0], y = v[1], z = v[2];
    return {{x * x * cc + c, x * y * cc - z * s, x * z * cc + y * s, 0,  //
             y * x * cc + z * s, y * y * cc + c, y * z * cc - x * s, 0,  //
             z * x * cc - y * s, z * y * cc + x * s, z * z * cc + c, 0,  //
             0, 0, 0, 1}};
}

// Draws sample parameters from the 8 blocks starting at `first_block` and sets kind and colour
// (the blit map and slot are filled in by classify_ada_geometry and the caller).
inline ada_sample draw_ada_sample(const ada_options& o, double p, core::index_t color_channels, core::index_t height,
                                  core::index_t width, const core::philox_stream& rng, std::uint64_t first_block) {
    const std::uint64_t w0 = 4 * first_block, n0 = 4 * (first_block + 6);
    auto u = [&](int k) { return static_cast<double>(rng.uniform(w0 + static_cast<std::uint64_t>(k))); };
    auto normal = [&](int k) { return static_cast<double>(rng.normal(n0 + static_cast<std::uint64_t>(k))); };
    auto fires = [&](int k, double multiplier) { return u(k) < multiplier * p; };
    constexpr double pi = std::numbers::pi;
    const double w = static_cast<double>(width), h = static_cast<double>(height);

    ada_sample s;
    mat3 g;
    if (fires(w_xflip_on, o.xflip) && std::floor(u(w_xflip) * 2) == 1) g = g * mat3::scale(-1, 1);
    if (fires(w_rot90_on, o.rotate90)) g = g * quarter_turn(static_cast<int>(std::floor(u(w_rot90) * 4)));
    if (fires(w_xint_on, o.xint)) {
        const double tx = std::nearbyint((u(w_xint_x) * 2 - 1) * o.xint_max * w);
        const double ty = std::nearbyint((u(w_xint_y) * 2 - 1) * o.xint_max * h);
        g = g * mat3::translate(-tx, -ty);
    }
    if (fires(w_scale_on, o.scale)) {
        const double f = std::exp2(normal(n_scale) * o.scale_std);
        g = g * mat3::scale(1 / f, 1 / f);
    }
    const double p_rot = 1 - std::sqrt(std::clamp(1 - o.rotate * p, 0.0, 1.0));
    if (u(w_rot_pre_on) < p_rot) {
        const double theta = (u(w_rot_pre) * 2 - 1) * pi * o.rotate_max;
        g = g * mat3::rotate(std::cos(theta), std::sin(theta));
    }
    if (fires(w_aniso_on, o.aniso)) {
        const double f = std::exp2(normal(n_aniso) * o.aniso_std);
        g = g * mat3::scale(1 / f, f);
    }
    if (u(w_rot_post_on) < p_rot) {
        const double theta = (u(w_rot_post) * 2 - 1) * pi * o.rotate_max;
        g = g * mat3::rotate(std::cos(theta), std::sin(theta));
    }
    if (fires(w_xfrac_on, o.xfrac))
        g = g * mat3::translate(-normal(n_xfrac_x) * o.xfrac_std * w, -normal(n_xfrac_y) * o.xfrac_std * h);
    s.g_inv = g;
    s.kind = g.is_identity() ? ada_sample::geometry::identity : ada_sample::geometry::resample;

    const bool flip = fires(w_lumaflip_on, o.lumaflip) && std::floor(u(w_lumaflip) * 2) == 1;
    const bool has_brightness = fires(w_brightness_on, o.brightness);
    const bool has_contrast = fires(w_contrast_on, o.contrast);
    if (color_channels == 1) {
        double m = 1, b = 0;
        if (has_brightness) b += normal(n_brightness) * o.brightness_std;
        if (has_contrast) {
            const double c = std::exp2(normal(n_contrast) * o.contrast_std);
            m *= c;
            b *= c;
        }
        if (flip) {
            m = -m;
            b = -b;
        }
        s.m[0] = m;
        s.b[0] = b;
        s.color = m != 1 || b != 0;
        return s;
    }
    const double r3 = 1 / std::sqrt(3.0);
    const double v[3] = {r3, r3, r3};
    mat4 c;
    bool any = false;
    if (has_brightness) {
        const double beta = normal(n_brightness) * o.brightness_std;
        c = mat4{{1, 0, 0, beta, 0, 1, 0, beta, 0, 0, 1, beta, 0, 0, 0, 1}} * c;
        any = true;
    }
    if (has_contrast) {
        const double k = std::exp2(normal(n_contrast) * o.contrast_std);
        c = mat4{{k, 0, 0, 0, 0, k, 0, 0, 0, 0, k, 0, 0, 0, 0, 1}} * c;
        any = true;
    }
    if (flip) {
        mat4 hh;
        for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 3; ++j) hh.a[4 * i + j] -= 2 * v[i] * v[j];
        c = hh * c;
        any = true;
    }
    if (fires(w_hue_on, o.hue)) {
        c = rotate_about(v, (u(w_hue) * 2 - 1) * pi * o.hue_max) * c;
        any = true;
    }
    if (fires(w_saturation_on, o.saturation)) {
        const double k = std::exp2(normal(n_saturation) * o.saturation_std);
        mat4 sat;
        for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 3; ++j) sat.a[4 * i + j] = v[i] * v[j] + ((i == j ? 1.0 : 0.0) - v[i] * v[j]) * k;
        c = sat * c;
        any = true;
    }
    for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 3; ++j) s.m[3 * i + j] = c.a[4 * i + j];
        s.b[i] = c.a[4 * i + 3];
    }
    s.color = any;
    return s;
}

// Index q reflected into [0, n) without repeating the edge (torch's 'reflect'); q must lie in
// [-(n - 1), 2 (n - 1)].
constexpr core::index_t reflect_index(core::index_t q, core::index_t n) noexcept {
    return q < 0 ? -q : (q > n - 1 ? 2 * (n - 1) - q : q);
}

// Turns a resampled sample into a blit when g_inv maps pixel centres onto pixel centres and every
// source index reflects once at most.
inline void classify_ada_geometry(ada_sample& s, core::index_t height, core::index_t width, bool exact_blits) {
    if (s.kind != ada_sample::geometry::resample || !exact_blits) return;
    const mat3& g = s.g_inv;
    for (int k : {0, 1, 3, 4})
        if (g.a[k] != 0 && g.a[k] != 1 && g.a[k] != -1) return;
    const double cx = static_cast<double>(width - 1) / 2, cy = static_cast<double>(height - 1) / 2;
    // Pixel indices: j_in = g00 j + g01 i + (g.x(-cx, -cy) + cx), likewise i_in.
    const double tx = g.x(-cx, -cy) + cx, ty = g.y(-cx, -cy) + cy;
    if (tx != std::nearbyint(tx) || ty != std::nearbyint(ty)) return;
    const core::index_t m[6] = {static_cast<core::index_t>(g.a[0]), static_cast<core::index_t>(g.a[1]),
                                static_cast<core::index_t>(tx),     static_cast<core::index_t>(g.a[3]),
                                static_cast<core::index_t>(g.a[4]), static_cast<core::index_t>(ty)};
    for (core::index_t i : {core::index_t{0}, height - 1})
        for (core::index_t j : {core::index_t{0}, width - 1}) {
            const core::index_t jj = m[0] * j + m[1] * i + m[2], ii = m[3] * j + m[4] * i + m[5];
            if (jj < -(width - 1) || jj > 2 * (width - 1) || ii < -(height - 1) || ii > 2 * (height - 1)) return;
        }
    for (int k = 0; k < 6; ++k) s.map[k] = m[k];
    s.kind = ada_sample::geometry::blit;
}

}  // namespace detail

}  // namespace imbdef::policies
