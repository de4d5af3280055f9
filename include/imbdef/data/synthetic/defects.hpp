#pragma once
// The defects of the synthetic dataset: scratches, cracks, holes (pits), stains and fraying.
//
// A defect is an alpha plane a(x) in [0, 1] and an effect. Its pixels are rendered as
// S' = mix(S, effect(S), a) on the surface S of the texture or part, before the part is composited
// onto the backdrop, so:
// - a is multiplied by the valid region (0 or 1 per pixel) before use: a defect never changes a
//   pixel outside the valid region;
// - a pixel with a = 0 keeps exactly the colour of the defect-free background;
// - the defect's mask is a >= 0.5 (within the valid region). Outside it a is positive only on
//   a fringe within 1 pixel (Chebyshev distance) of the mask, the anti-aliased edge, or for a
//   stain within its soft edge, at most ceil(4.2 s) + 1 pixels with s = resolution / 128
//   (6 pixels at 128);
// - every defect covers the pixel centre it is anchored at with a = 1, so an anchor chosen inside
//   the valid region always yields a non-empty mask.

#include <algorithm>
#include <climits>
#include <cmath>
#include <vector>

#include "random.hpp"
#include "raster.hpp"
#include "surfaces.hpp"

namespace imbdef::data::synthetic_detail {

enum class material_class { metal, fabric, wood, ceramic };

// What a defect renders onto and with.
struct defect_target {
    canvas& surface;             // the surface, before the part is composited
    plane& alpha;                // zero on entry; the defect's clipped alpha on exit
    const plane& valid;          // 1 inside the valid region, 0 outside
    const lighting& light;
    material_class material;
    const woven_fabric* fabric;  // the fabric's weave, for fraying; null for other scenes
    vec2 grain_dir;              // wood grain direction; zero for other scenes
    float scale;                 // resolution / 128: pixel sizes of fine features scale with it
    const lattice_noise& noise;  // the sample's defect lattice
};

namespace defect_ops {

// Makes the alpha final before the effect is drawn: clipped to the valid region, and zero on every
// pixel farther than `fringe` pixels (Chebyshev distance) from the mask (alpha >= 1/2). The
// second step removes the faint anti-aliased fringe where its mask pixels were clipped away (a
// line crossing a hole in the part), so a defect changes only pixels within `fringe` of its mask.
inline void settle(const defect_target& t, pixel_box b, int fringe) {
    const int w = b.x1 - b.x0, h = b.y1 - b.y0;
    if (w <= 0 || h <= 0) return;
    for (int y = b.y0; y < b.y1; ++y)
        for (int x = b.x0; x < b.x1; ++x) t.alpha.at(x, y) *= t.valid.at(x, y);
    // Separable dilation by prefix sums: rows, then columns.
    std::vector<int> rows(static_cast<std::size_t>(w * h)), prefix(static_cast<std::size_t>(std::max(w, h) + 1));
    for (int y = 0; y < h; ++y) {
        for (int x = 0; x < w; ++x)
            prefix[static_cast<std::size_t>(x + 1)] = prefix[static_cast<std::size_t>(x)] + (t.alpha.at(b.x0 + x, b.y0 + y) >= 0.5f);
        for (int x = 0; x < w; ++x)
            rows[static_cast<std::size_t>(y * w + x)] =
                prefix[static_cast<std::size_t>(std::min(w, x + fringe + 1))] - prefix[static_cast<std::size_t>(std::max(0, x - fringe))];
    }
    for (int x = 0; x < w; ++x) {
        for (int y = 0; y < h; ++y)
            prefix[static_cast<std::size_t>(y + 1)] = prefix[static_cast<std::size_t>(y)] + (rows[static_cast<std::size_t>(y * w + x)] > 0);
        for (int y = 0; y < h; ++y) {
            const int near = prefix[static_cast<std::size_t>(std::min(h, y + fringe + 1))] - prefix[static_cast<std::size_t>(std::max(0, y - fringe))];
            if (near == 0) t.alpha.at(b.x0 + x, b.y0 + y) = 0.0f;
        }
    }
}

// The alpha's gradient along the light direction, a cheap relief: positive on the edge of a
// groove that faces away from the light (its wall is lit), negative on the other.
inline float relief(const defect_target& t, int x, int y) {
    const int n = t.alpha.n;
    const float gx = t.alpha.at(std::min(x + 1, n - 1), y) - t.alpha.at(std::max(x - 1, 0), y);
    const float gy = t.alpha.at(x, std::min(y + 1, n - 1)) - t.alpha.at(x, std::max(y - 1, 0));
    return 0.5f * (gx * t.light.dir.x + gy * t.light.dir.y);
}

inline pixel_box union_box(pixel_box a, pixel_box b) {
    if (a.x1 <= a.x0 || a.y1 <= a.y0) return b;
    return {std::min(a.x0, b.x0), std::min(a.y0, b.y0), std::max(a.x1, b.x1), std::max(a.y1, b.y1)};
}

inline float anchor_luminance(const defect_target& t, vec2 anchor) {
    const int x = std::clamp(static_cast<int>(anchor.x), 0, t.surface.n - 1);
    const int y = std::clamp(static_cast<int>(anchor.y), 0, t.surface.n - 1);
    return luminance(t.surface.at(x, y));
}

// Brighter or darker: a defect darkens light surfaces and brightens dark ones, either on mid tones.
inline float contrast_sign(draw_cursor& c, const defect_target& t, vec2 anchor) {
    const float lum = anchor_luminance(t, anchor);
    const float s = c.sign();
    if (lum > 0.68f) return -1.0f;
    if (lum < 0.3f) return 1.0f;
    return s;
}

}  // namespace defect_ops

// A scratch: a thin curved groove, brighter or darker than the surface, shaded as a relief,
// tapering at both ends and varying in depth along its length; its middle is at the anchor. The
// alpha is the groove's coverage, so the faint stretches are in the mask too (as an annotator
// would draw it); the depth only scales how much the pixels change.
inline pixel_box render_scratch(draw_cursor& c, const defect_target& t, vec2 anchor, float area_px, int k) {
    const float n = static_cast<float>(t.surface.n);
    const float width = std::max(1.0f, c.uniform(0.9f, 2.6f) * t.scale);
    const float length = std::clamp(area_px / width, 4.0f * t.scale, 0.95f * n);
    const float angle = c.uniform(0.0f, pi);
    const vec2 d{std::cos(angle), std::sin(angle)};
    const vec2 perp{-d.y, d.x};
    const float bend = c.uniform(-0.3f, 0.3f) * length;
    // Quadratic Bezier through the anchor at t = 1/2.
    const vec2 recentre = perp * (-0.5f * bend);
    const vec2 p0 = anchor - d * (0.5f * length) + recentre;
    const vec2 p1 = anchor + perp * bend + recentre;
    const vec2 p2 = anchor + d * (0.5f * length) + recentre;
    const float sign = defect_ops::contrast_sign(c, t, anchor);
    const float contrast = c.uniform(0.3f, 0.65f);
    const float fade_freq = c.uniform(1.5f, 5.0f);
    const float fade_off = static_cast<float>(k) * 13.7f + c.uniform(0.0f, 50.0f);
    const int segments = std::clamp(static_cast<int>(length / 2.5f), 4, 64);

    pixel_box box{};
    plane depth(t.surface.n);
    vec2 prev = p0;
    // Half a pixel at least: a line between two pixel centres still covers one of them by 1/2.
    float prev_r = 0.5f;
    for (int s = 1; s <= segments; ++s) {
        const float u = static_cast<float>(s) / static_cast<float>(segments);
        const float v = 1.0f - u;
        const vec2 p = p0 * (v * v) + p1 * (2.0f * u * v) + p2 * (u * u);
        const float taper = std::min(1.0f, 4.0f * std::min(u, v) + 0.15f);
        const float r = std::max(0.5f, 0.5f * width * taper);
        const float um = u - 0.5f / static_cast<float>(segments);
        const float fade = std::clamp(0.75f + 0.5f * t.noise(um * fade_freq + fade_off, 3.5f), 0.35f, 1.0f);
        stamp_capsule(t.alpha, prev, p, prev_r, r);
        stamp_capsule(depth, prev, p, prev_r, r, fade);
        const float m = std::max(prev_r, r) + 2.0f;
        box = defect_ops::union_box(box, box_around(std::min(prev.x, p.x) - m, std::min(prev.y, p.y) - m,
                                                    std::max(prev.x, p.x) + m, std::max(prev.y, p.y) + m, t.surface.n));
        prev = p;
        prev_r = r;
    }
    defect_ops::settle(t, box, 1);
    const float relief_amp = c.uniform(0.15f, 0.4f);
    for (int y = box.y0; y < box.y1; ++y)
        for (int x = box.x0; x < box.x1; ++x) {
            const float a = t.alpha.at(x, y);
            if (a <= 0.0f) continue;
            rgb& s = t.surface.at(x, y);
            const float lum = std::max(luminance(s), 0.05f);
            const float shift = sign * contrast * (sign > 0 ? std::min(1.0f, 0.9f / lum - 0.9f) + 0.2f : 1.0f);
            const rgb target = s * (1.0f + shift) + grey(relief_amp * defect_ops::relief(t, x, y));
            // Clipped like the alpha, so nothing changes outside the valid region.
            s = mix(s, target, std::min(a, depth.at(x, y)));
        }
    return box;
}

// A crack: a jagged polyline grown in both directions from the anchor by a random walk, tapering,
// with side branches; dark, with a faint lit lip. On wood it follows the grain.
inline pixel_box render_crack(draw_cursor& c, const defect_target& t, vec2 anchor, float area_px, int /*k*/) {
    const float n = static_cast<float>(t.surface.n);
    const float width = std::max(1.0f, c.uniform(1.0f, 2.2f) * t.scale);
    const float total = std::clamp(area_px / (0.7f * width), 6.0f * t.scale, 2.5f * n);
    float angle = c.uniform(0.0f, pi);
    if (t.grain_dir.x != 0.0f || t.grain_dir.y != 0.0f) angle = std::atan2(t.grain_dir.y, t.grain_dir.x) + c.uniform(-0.2f, 0.2f);
    const float step = std::max(1.2f, 1.6f * t.scale);
    const float jag = c.uniform(0.25f, 0.55f);
    const float branch_rate = c.uniform(0.01f, 0.05f);
    const float depth = c.uniform(0.55f, 0.85f);

    struct arm {
        vec2 p;
        float angle, r0, length;
        int generation;
    };
    std::vector<arm> arms;
    const float main_len = 0.5f * total * c.uniform(0.6f, 0.85f);
    arms.push_back({anchor, angle, 0.5f * width, main_len, 0});
    arms.push_back({anchor, angle + pi, 0.5f * width, main_len, 0});
    float budget = total - 2.0f * main_len;
    pixel_box box{};
    int segments_left = 2000;
    for (std::size_t a = 0; a < arms.size() && segments_left > 0; ++a) {
        const arm start = arms[a];
        vec2 p = start.p;
        float dir = start.angle;
        const int steps = std::max(1, static_cast<int>(start.length / step));
        float prev_r = start.r0;
        for (int s = 1; s <= steps && segments_left-- > 0; ++s) {
            dir += jag * c.normal() * 0.6f + 0.25f * (start.angle - dir);
            const vec2 q = p + vec2{std::cos(dir), std::sin(dir)} * step;
            const float frac = static_cast<float>(s) / static_cast<float>(steps);
            const float r = std::max(0.5f, start.r0 * (1.0f - 0.75f * frac));
            stamp_capsule(t.alpha, p, q, prev_r, r);
            const float m = std::max(prev_r, r) + 2.0f;
            box = defect_ops::union_box(box, box_around(std::min(p.x, q.x) - m, std::min(p.y, q.y) - m, std::max(p.x, q.x) + m,
                                                        std::max(p.y, q.y) + m, t.surface.n));
            if (start.generation < 2 && budget > 0 && c.chance(branch_rate)) {
                const float len = std::min(budget, start.length * (1.0f - frac) * c.uniform(0.3f, 0.8f) + 3.0f * step);
                budget -= len;
                arms.push_back({q, dir + c.sign() * c.uniform(0.4f, 1.0f), std::max(0.5f, 0.7f * r), len, start.generation + 1});
            }
            p = q;
            prev_r = r;
        }
    }
    defect_ops::settle(t, box, 1);
    for (int y = box.y0; y < box.y1; ++y)
        for (int x = box.x0; x < box.x1; ++x) {
            const float a = t.alpha.at(x, y);
            if (a <= 0.0f) continue;
            rgb& s = t.surface.at(x, y);
            const rgb target = s * (1.0f - depth) + grey(0.25f * std::max(0.0f, defect_ops::relief(t, x, y)));
            s = mix(s, target, a);
        }
    return box;
}

// A hole or pit: an irregular ellipse, dark inside with its far wall lit and a raised rim that
// catches the light. The mask covers the pit and its rim. On fabric it is a hole through the
// cloth: the dark backing shows through a ragged edge.
inline pixel_box render_hole(draw_cursor& c, const defect_target& t, vec2 anchor, float area_px, int k) {
    const bool cloth = t.material == material_class::fabric;
    const float aspect = c.uniform(1.0f, cloth ? 1.6f : 1.9f);
    const float rim = cloth ? 0.0f : c.uniform(0.12f, 0.3f);
    const float b = std::max(1.2f * t.scale, std::sqrt(area_px / (pi * aspect)) / (1.0f + rim));
    const float a = aspect * b;
    const float angle = c.uniform(0.0f, pi);
    const float ca = std::cos(angle), sa = std::sin(angle);
    const float irregular = cloth ? c.uniform(0.12f, 0.25f) : c.uniform(0.03f, 0.15f);
    const float depth = c.uniform(0.55f, 0.85f);
    const float rim_amp = c.uniform(0.2f, 0.5f);
    const float off = 7.3f * static_cast<float>(k) + c.uniform(0.0f, 40.0f);
    const float reach = a * (1.0f + rim) * (1.0f + irregular) + 2.0f;
    const pixel_box box = box_around(anchor.x - reach, anchor.y - reach, anchor.x + reach, anchor.y + reach, t.surface.n);
    std::vector<float> inner(static_cast<std::size_t>((box.x1 - box.x0) * (box.y1 - box.y0)));
    const float q_out = 1.0f + rim;
    for (int y = box.y0; y < box.y1; ++y)
        for (int x = box.x0; x < box.x1; ++x) {
            const vec2 v{static_cast<float>(x) + 0.5f - anchor.x, static_cast<float>(y) + 0.5f - anchor.y};
            const float lx = ca * v.x + sa * v.y, ly = -sa * v.x + ca * v.y;
            const float q = std::sqrt((lx * lx) / (a * a) + (ly * ly) / (b * b));
            const float r = std::max(length(v), 1e-6f);
            const float wobble = 1.0f + irregular * t.noise(v.x / r * 1.7f + off, v.y / r * 1.7f + off) +
                                 (cloth ? 0.5f * irregular * t.noise(v.x * 0.9f + off, v.y * 0.9f) : 0.0f);
            const float qn = q / wobble;
            // Distance to the boundary, measured along the minor axis: exact for circles, conservative otherwise.
            t.alpha.at(x, y) = coverage_from_distance((qn - q_out) * b * wobble);
            inner[static_cast<std::size_t>((y - box.y0) * (box.x1 - box.x0) + (x - box.x0))] =
                rim > 0 ? coverage_from_distance((qn - 1.0f) * b * wobble) : 1.0f;
        }
    defect_ops::settle(t, box, 1);
    const rgb backing = cloth ? t.fabric->gap_colour * 0.6f : rgb{};
    for (int y = box.y0; y < box.y1; ++y)
        for (int x = box.x0; x < box.x1; ++x) {
            const float al = t.alpha.at(x, y);
            if (al <= 0.0f) continue;
            rgb& s = t.surface.at(x, y);
            const vec2 v{static_cast<float>(x) + 0.5f - anchor.x, static_cast<float>(y) + 0.5f - anchor.y};
            const float r = std::max(length(v), 1e-6f);
            const float facing = dot(v * (1.0f / r), t.light.dir);
            const float lx = ca * v.x + sa * v.y, ly = -sa * v.x + ca * v.y;
            const float q = std::min(1.0f, std::sqrt((lx * lx) / (a * a) + (ly * ly) / (b * b)));
            rgb pit;
            if (cloth) {
                pit = t.light.apply(backing, {(static_cast<float>(x) + 0.5f) / static_cast<float>(t.surface.n),
                                              (static_cast<float>(y) + 0.5f) / static_cast<float>(t.surface.n)});
            } else {
                // The wall on the far side from the light faces it.
                const float wall = 0.6f * std::max(0.0f, -facing) * q * q;
                pit = s * (1.0f - depth + depth * wall);
            }
            const float w_in = inner[static_cast<std::size_t>((y - box.y0) * (box.x1 - box.x0) + (x - box.x0))];
            const rgb lip = s * (1.0f + rim_amp * (0.25f + 0.75f * std::max(0.0f, facing)));
            s = mix(s, mix(lip, pit, w_in), al);
        }
    return box;
}

// A stain: a soft-edged blotch (noise-distorted ellipse) that shifts colour and brightness, darker
// at its rim like a dried drop, mottled inside. The mask is where its alpha reaches 1/2.
inline pixel_box render_stain(draw_cursor& c, const defect_target& t, vec2 anchor, float area_px, int k) {
    const float aspect = c.uniform(1.0f, 2.2f);
    const float b = std::max(1.5f * t.scale, std::sqrt(area_px / (pi * aspect)));
    const float a = aspect * b;
    const float angle = c.uniform(0.0f, pi);
    const float ca = std::cos(angle), sa = std::sin(angle);
    const float irregular = c.uniform(0.15f, 0.4f);
    // Half-width of the soft edge: in pixels, then in units of q (along the major axis, so the
    // edge is nowhere wider than soft_px times the distortion).
    const float soft_px = std::clamp(c.uniform(0.06f, 0.2f) * b, 0.8f, 3.0f * t.scale);
    const float soft = soft_px / a;
    const float strength = c.uniform(0.65f, 0.95f);
    const float ring = c.uniform(0.0f, 0.5f);
    // Tints by material: rust, oil, residue on metal; wet, coffee, grease on fabric; water and
    // dark marks on wood; brown and grey on ceramic.
    rgb tint{0.6f, 0.6f, 0.62f};
    rgb add{};
    // A light residue shows only on a darker surface.
    int variant = c.integer(0, 2);
    if (variant == 2 && defect_ops::anchor_luminance(t, anchor) > 0.55f) variant = 1;
    switch (t.material) {
        case material_class::metal:
            if (variant == 0) tint = {1.0f, 0.62f, 0.36f}, add = {0.08f, 0.02f, 0.0f};
            else if (variant == 1) tint = {0.5f, 0.5f, 0.55f};
            else tint = {1.05f, 1.05f, 1.02f}, add = grey(0.12f);
            break;
        case material_class::fabric:
            if (variant == 0) tint = {0.55f, 0.55f, 0.58f};
            else if (variant == 1) tint = {0.82f, 0.62f, 0.42f};
            else tint = {0.7f, 0.7f, 0.66f};
            break;
        case material_class::wood:
            tint = variant == 0 ? rgb{0.62f, 0.52f, 0.48f} : rgb{0.45f, 0.38f, 0.34f};
            break;
        case material_class::ceramic:
            if (variant == 0) tint = {0.72f, 0.56f, 0.4f};
            else tint = {0.6f, 0.6f, 0.6f};
            break;
    }
    const float off = 11.1f * static_cast<float>(k) + c.uniform(0.0f, 40.0f);
    const float freq = c.uniform(1.2f, 2.5f);
    const float reach = a * (1.0f + irregular) * (1.0f + soft) + 2.0f;
    const pixel_box box = box_around(anchor.x - reach, anchor.y - reach, anchor.x + reach, anchor.y + reach, t.surface.n);
    std::vector<float> qs(static_cast<std::size_t>((box.x1 - box.x0) * (box.y1 - box.y0)));
    for (int y = box.y0; y < box.y1; ++y)
        for (int x = box.x0; x < box.x1; ++x) {
            const vec2 v{static_cast<float>(x) + 0.5f - anchor.x, static_cast<float>(y) + 0.5f - anchor.y};
            const float lx = ca * v.x + sa * v.y, ly = -sa * v.x + ca * v.y;
            const float q = std::sqrt((lx * lx) / (a * a) + (ly * ly) / (b * b));
            // The distortion vanishes at the anchor, so the anchor is always inside.
            const float w = 1.0f + irregular * std::min(q, 1.0f) * t.noise.fbm(lx / a + off, ly / a + off, freq, 2);
            const float qn = q / w;
            t.alpha.at(x, y) = 1.0f - smoothstep(1.0f - soft, 1.0f + soft, qn);
            qs[static_cast<std::size_t>((y - box.y0) * (box.x1 - box.x0) + (x - box.x0))] = qn;
        }
    defect_ops::settle(t, box, static_cast<int>(std::ceil(soft_px * (1.0f + irregular))) + 1);
    for (int y = box.y0; y < box.y1; ++y)
        for (int x = box.x0; x < box.x1; ++x) {
            const float al = t.alpha.at(x, y);
            if (al <= 0.0f) continue;
            rgb& s = t.surface.at(x, y);
            const float qn = qs[static_cast<std::size_t>((y - box.y0) * (box.x1 - box.x0) + (x - box.x0))];
            const float mottle = 0.3f * t.noise.fbm(static_cast<float>(x) / t.scale + off, static_cast<float>(y) / t.scale, 0.12f, 3);
            const float w = strength * (1.0f - ring + ring * smoothstep(0.55f, 0.95f, qn) + mottle);
            s = mix(s, mix(s, s * tint + add, clamp01(w)), al);
        }
    return box;
}

// Fraying (fabric only): a run of neighbouring yarns of one family broken over a ragged stretch,
// so the crossing yarns show through the gap, with loose fibre ends curling out of the breaks.
inline pixel_box render_fray(draw_cursor& c, const defect_target& t, vec2 anchor, float area_px, int k) {
    const woven_fabric& f = *t.fabric;
    const float n = static_cast<float>(t.surface.n);
    const bool weft = c.chance(0.5f);  // which family breaks
    const float pitch_px = f.px_per_pitch;
    const int yarns = std::clamp(static_cast<int>(std::sqrt(area_px / (6.0f * pitch_px * pitch_px)) + 0.5f), 1, 6);
    const float half_len = std::clamp(area_px / (2.0f * static_cast<float>(yarns) * pitch_px), 1.5f * pitch_px, 0.45f * n) / pitch_px;
    const vec2 centre = f.weave_coords({anchor.x / n, anchor.y / n});
    const float along0 = weft ? centre.x : centre.y;
    const int first = static_cast<int>(std::floor(weft ? centre.y : centre.x)) - (yarns - 1) / 2;
    const float off = 5.9f * static_cast<float>(k) + c.uniform(0.0f, 40.0f);
    const float ragged = c.uniform(0.2f, 0.6f);
    const float reach = (half_len * (1.0f + ragged) + static_cast<float>(yarns) + 2.0f) * pitch_px + 3.0f;
    const pixel_box box = box_around(anchor.x - reach, anchor.y - reach, anchor.x + reach, anchor.y + reach, t.surface.n);
    const auto cells = static_cast<std::size_t>((box.x1 - box.x0) * (box.y1 - box.y0));
    std::vector<rgb> damaged(cells);
    std::vector<float> broken(cells, 0.0f);  // coverage of the broken stretches
    for (int y = box.y0; y < box.y1; ++y)
        for (int x = box.x0; x < box.x1; ++x) {
            const vec2 u{(static_cast<float>(x) + 0.5f) / n, (static_cast<float>(y) + 0.5f) / n};
            const vec2 w = f.weave_coords(u);
            const float across = weft ? w.y : w.x;
            const float along = (weft ? w.x : w.y) - along0;
            const int yarn = static_cast<int>(std::floor(across));
            if (yarn < first || yarn >= first + yarns) continue;
            // Each yarn breaks over its own stretch; the middle yarn always covers the anchor.
            const float lo = half_len * (1.0f + ragged * t.noise(static_cast<float>(yarn) * 3.1f + off, 0.5f));
            const float hi = half_len * (1.0f + ragged * t.noise(static_cast<float>(yarn) * 3.1f + off, 20.5f));
            const float inside = std::min(along + lo, hi - along);  // pitches, > 0 inside the stretch
            const float cov = clamp01(inside * pitch_px + 0.5f);
            if (cov <= 0.0f) continue;
            t.alpha.at(x, y) = cov;
            broken[static_cast<std::size_t>((y - box.y0) * (box.x1 - box.x0) + (x - box.x0))] = cov;
            // The crossing yarns, no longer held, shift a little.
            vec2 shifted = w;
            (weft ? shifted.x : shifted.y) += 0.15f * t.noise((weft ? w.x : w.y) * 0.7f + off, across * 0.5f);
            const rgb exposed = weft ? f.material_at(shifted, INT_MIN, yarn) : f.material_at(shifted, yarn, INT_MIN);
            damaged[static_cast<std::size_t>((y - box.y0) * (box.x1 - box.x0) + (x - box.x0))] = t.light.apply(exposed * 0.85f, u);
        }
    // Loose fibres: short curved strands from the break ends, in the broken yarn's colour.
    const int fibres = c.integer(yarns, 3 * yarns);
    plane strands(t.surface.n);
    pixel_box strand_box{};
    const vec2 along_dir = weft ? vec2{f.ca, f.sa} : vec2{-f.sa, f.ca};
    const vec2 across_dir = weft ? vec2{-f.sa, f.ca} : vec2{f.ca, f.sa};
    for (int s = 0; s < fibres; ++s) {
        const float side = c.sign();
        const float j = static_cast<float>(first) + c.uniform(0.0f, static_cast<float>(yarns)) - (weft ? centre.y : centre.x);
        vec2 p = anchor + along_dir * (side * half_len * c.uniform(0.7f, 1.2f) * pitch_px) + across_dir * (j * pitch_px);
        float dir = (side > 0 ? 0.0f : pi) + c.uniform(-0.8f, 0.8f);
        const float base = std::atan2(along_dir.y, along_dir.x);
        const int steps = c.integer(3, 6);
        for (int st = 0; st < steps; ++st) {
            dir += c.uniform(-0.5f, 0.5f);
            const vec2 q = p + vec2{std::cos(base + dir), std::sin(base + dir)} * (0.6f * pitch_px);
            stamp_capsule(strands, p, q, std::max(0.6f, 0.5f * t.scale), std::max(0.5f, 0.35f * t.scale));
            strand_box = defect_ops::union_box(strand_box, box_around(std::min(p.x, q.x) - 2, std::min(p.y, q.y) - 2,
                                                                      std::max(p.x, q.x) + 2, std::max(p.y, q.y) + 2, t.surface.n));
            p = q;
        }
    }
    const pixel_box all = defect_ops::union_box(box, strand_box);
    for (int y = all.y0; y < all.y1; ++y)
        for (int x = all.x0; x < all.x1; ++x) t.alpha.at(x, y) = std::max(t.alpha.at(x, y), strands.at(x, y));
    defect_ops::settle(t, all, 1);
    const rgb fibre = (weft ? f.weft_colour : f.warp_colour) * 1.05f;
    for (int y = all.y0; y < all.y1; ++y)
        for (int x = all.x0; x < all.x1; ++x) {
            const float al = t.alpha.at(x, y);
            if (al <= 0.0f) continue;
            rgb& s = t.surface.at(x, y);
            rgb target = s;
            const bool in_box = x >= box.x0 && x < box.x1 && y >= box.y0 && y < box.y1;
            if (in_box) {
                const auto i = static_cast<std::size_t>((y - box.y0) * (box.x1 - box.x0) + (x - box.x0));
                if (broken[i] > 0.0f) target = damaged[i];
            }
            const float st = strands.at(x, y);
            if (st > 0.0f) {
                const vec2 u{(static_cast<float>(x) + 0.5f) / n, (static_cast<float>(y) + 0.5f) / n};
                target = mix(target, t.light.apply(fibre, u), st);
            }
            s = mix(s, target, al);
        }
    return all;
}

}  // namespace imbdef::data::synthetic_detail
