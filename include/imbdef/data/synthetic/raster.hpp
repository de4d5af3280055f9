#pragma once
// The float canvas the synthetic scenes are rendered on, and anti-aliased coverage of the shapes
// defects are made of. Coordinates: pixel (x, y) has its centre at (x + 0.5, y + 0.5) in pixel
// units; "unit" coordinates divide by the resolution, so a scene drawn in unit coordinates looks
// the same at every resolution.
//
// Coverage convention, used for parts and defects alike: a shape at signed distance d (pixels,
// negative inside) from a pixel centre covers that pixel by clamp(0.5 - d, 0, 1), a one-pixel box
// filter across the edge. Coverage >= 0.5 exactly when the pixel centre is inside the shape.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "random.hpp"

namespace imbdef::data::synthetic_detail {

struct rgb {
    float r = 0, g = 0, b = 0;
};
inline rgb operator+(rgb a, rgb b) noexcept { return {a.r + b.r, a.g + b.g, a.b + b.b}; }
inline rgb operator-(rgb a, rgb b) noexcept { return {a.r - b.r, a.g - b.g, a.b - b.b}; }
inline rgb operator*(rgb a, rgb b) noexcept { return {a.r * b.r, a.g * b.g, a.b * b.b}; }
inline rgb operator*(rgb a, float s) noexcept { return {a.r * s, a.g * s, a.b * s}; }
inline rgb operator*(float s, rgb a) noexcept { return a * s; }
inline rgb mix(rgb a, rgb b, float t) noexcept { return a + (b - a) * t; }
inline rgb grey(float v) noexcept { return {v, v, v}; }
inline float luminance(rgb c) noexcept { return 0.299f * c.r + 0.587f * c.g + 0.114f * c.b; }

struct vec2 {
    float x = 0, y = 0;
};
inline vec2 operator+(vec2 a, vec2 b) noexcept { return {a.x + b.x, a.y + b.y}; }
inline vec2 operator-(vec2 a, vec2 b) noexcept { return {a.x - b.x, a.y - b.y}; }
inline vec2 operator*(vec2 a, float s) noexcept { return {a.x * s, a.y * s}; }
inline float dot(vec2 a, vec2 b) noexcept { return a.x * b.x + a.y * b.y; }
inline float length(vec2 a) noexcept { return std::sqrt(dot(a, a)); }
inline vec2 rotate(vec2 a, float c, float s) noexcept { return {c * a.x - s * a.y, s * a.x + c * a.y}; }

// A square float RGB image of side n, row-major.
struct canvas {
    int n = 0;
    std::vector<rgb> px;

    explicit canvas(int side = 0) : n(side), px(static_cast<std::size_t>(side) * static_cast<std::size_t>(side)) {}
    rgb& at(int x, int y) noexcept { return px[static_cast<std::size_t>(y) * static_cast<std::size_t>(n) + static_cast<std::size_t>(x)]; }
    const rgb& at(int x, int y) const noexcept {
        return px[static_cast<std::size_t>(y) * static_cast<std::size_t>(n) + static_cast<std::size_t>(x)];
    }
};

// A square float plane (coverage, alpha) of side n, row-major.
struct plane {
    int n = 0;
    std::vector<float> v;

    explicit plane(int side = 0, float fill = 0.0f)
        : n(side), v(static_cast<std::size_t>(side) * static_cast<std::size_t>(side), fill) {}
    float& at(int x, int y) noexcept { return v[static_cast<std::size_t>(y) * static_cast<std::size_t>(n) + static_cast<std::size_t>(x)]; }
    float at(int x, int y) const noexcept { return v[static_cast<std::size_t>(y) * static_cast<std::size_t>(n) + static_cast<std::size_t>(x)]; }
};

inline float coverage_from_distance(float d_px) noexcept { return clamp01(0.5f - d_px); }

// Pixel rectangle [x0, x1) x [y0, y1), clipped to the canvas.
struct pixel_box {
    int x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};
inline pixel_box box_around(float x_min, float y_min, float x_max, float y_max, int n) noexcept {
    return {std::max(0, static_cast<int>(std::floor(x_min))), std::max(0, static_cast<int>(std::floor(y_min))),
            std::min(n, static_cast<int>(std::ceil(x_max)) + 1), std::min(n, static_cast<int>(std::ceil(y_max)) + 1)};
}

// Raises `alpha` to the coverage of a capsule (segment a-b in pixels, radius ra at a tapering
// linearly to rb at b) times `strength`, keeping the larger value where capsules overlap.
inline void stamp_capsule(plane& alpha, vec2 a, vec2 b, float ra, float rb, float strength = 1.0f) {
    const float r = std::max(ra, rb) + 1.0f;
    const pixel_box box = box_around(std::min(a.x, b.x) - r, std::min(a.y, b.y) - r, std::max(a.x, b.x) + r, std::max(a.y, b.y) + r, alpha.n);
    const vec2 ab = b - a;
    const float len2 = std::max(dot(ab, ab), 1e-12f);
    for (int y = box.y0; y < box.y1; ++y) {
        for (int x = box.x0; x < box.x1; ++x) {
            const vec2 p{static_cast<float>(x) + 0.5f, static_cast<float>(y) + 0.5f};
            const float t = clamp01(dot(p - a, ab) / len2);
            const float d = length(p - (a + ab * t)) - lerp(ra, rb, t);
            const float c = coverage_from_distance(d) * strength;
            float& dst = alpha.at(x, y);
            if (c > dst) dst = c;
        }
    }
}

// Signed distance (pixels) from p to a rounded rectangle centred at the origin, axis-aligned,
// with half sizes (hx, hy) and corner radius rc.
inline float rounded_box_distance(vec2 p, float hx, float hy, float rc) noexcept {
    const float qx = std::fabs(p.x) - hx + rc;
    const float qy = std::fabs(p.y) - hy + rc;
    const float ox = std::max(qx, 0.0f), oy = std::max(qy, 0.0f);
    return std::sqrt(ox * ox + oy * oy) + std::min(std::max(qx, qy), 0.0f) - rc;
}

}  // namespace imbdef::data::synthetic_detail
