#pragma once
// The parts of the synthetic dataset and the backdrop they lie on: a turned disc (washer, bearing
// face or blank) and a rounded plate with through holes, each a signed distance function (its
// exact silhouette) and a shading function, lit like the surfaces, with a soft cast shadow.

#include <algorithm>
#include <array>
#include <cmath>

#include "random.hpp"
#include "raster.hpp"
#include "surfaces.hpp"

namespace imbdef::data::synthetic_detail {

// A textured backdrop: a dark rubber mat, a light paper or a conveyor belt weave.
struct backdrop {
    rgb colour;
    float mottle_amp = 0.05f, fine_amp = 0.05f, weave_amp = 0;
    float weave_freq = 60;
    lattice_noise noise;
    lighting light;

    static backdrop draw(draw_cursor& c, core::philox_stream lattices, int first, const lighting& l, bool dark) {
        backdrop b;
        if (dark) {
            b.colour = grey(c.uniform(0.06f, 0.2f)) * rgb{1.0f, 1.0f, c.uniform(1.0f, 1.15f)};
            b.weave_amp = c.chance(0.4f) ? c.uniform(0.08f, 0.2f) : 0.0f;
        } else {
            b.colour = grey(c.uniform(0.68f, 0.9f)) * rgb{1.0f, c.uniform(0.97f, 1.0f), c.uniform(0.92f, 1.0f)};
        }
        b.mottle_amp = c.uniform(0.02f, 0.1f);
        b.fine_amp = c.uniform(0.02f, 0.08f);
        b.weave_freq = c.uniform(40.0f, 90.0f);
        b.noise = make_lattice(lattices, first);
        b.light = l;
        return b;
    }

    rgb shade(vec2 u) const noexcept {
        float v = 1.0f + mottle_amp * noise.fbm(u.x, u.y, 4.0f, 3) + fine_amp * noise(u.x * 110.0f + 5.0f, u.y * 110.0f + 3.0f);
        if (weave_amp > 0) v *= 1.0f + weave_amp * wave(u.x * weave_freq) * wave(u.y * weave_freq);
        return light.apply(colour * v, u);
    }
};

// A turned metal disc: concentric turning marks, the bow-tie highlight of a turned face, chamfered
// edges; optionally a centre hole (washer) and a bearing's shield ring.
struct disc_part {
    enum class style { washer, bearing, blank };
    style kind = style::washer;
    vec2 centre{0.5f, 0.5f};
    float outer = 0.35f, inner = 0.1f;  // radii, unit coordinates
    float shield_in = 0, shield_out = 0;
    rgb colour, shield_colour;
    float turn_amp = 0.1f, turn_freq = 150, bowtie_amp = 0.2f, chamfer = 0.02f, mottle_amp = 0.03f;
    lattice_noise turning;
    lighting light;

    static disc_part draw(draw_cursor& c, core::philox_stream lattices, int first, const lighting& l) {
        disc_part d;
        const float pick = c.uniform();
        d.kind = pick < 0.5f ? style::washer : (pick < 0.75f ? style::bearing : style::blank);
        d.centre = {0.5f + c.uniform(-0.06f, 0.06f), 0.5f + c.uniform(-0.06f, 0.06f)};
        d.outer = c.uniform(0.30f, 0.42f);
        d.inner = d.kind == style::blank ? 0.0f : d.outer * c.uniform(0.28f, 0.5f);
        if (d.kind == style::bearing) {
            d.shield_out = d.outer * c.uniform(0.8f, 0.86f);
            d.shield_in = d.inner + (d.shield_out - d.inner) * c.uniform(0.2f, 0.35f);
            d.shield_colour = c.chance(0.5f) ? grey(c.uniform(0.08f, 0.16f)) : grey(c.uniform(0.4f, 0.55f));
        }
        d.colour = brushed_metal::draw_metal_colour(c);
        d.turn_amp = c.uniform(0.05f, 0.14f);
        d.turn_freq = c.uniform(90.0f, 200.0f);
        d.bowtie_amp = c.uniform(0.08f, 0.3f);
        d.chamfer = c.uniform(0.008f, 0.02f);
        d.mottle_amp = c.uniform(0.01f, 0.04f);
        d.turning = make_lattice(lattices, first);
        d.light = l;
        return d;
    }

    // Signed distance to the silhouette, unit coordinates, negative on the part.
    float sdf(vec2 u) const noexcept {
        const float r = length(u - centre);
        return inner > 0 ? std::max(r - outer, inner - r) : r - outer;
    }

    rgb material(vec2 u) const noexcept {
        const vec2 q = u - centre;
        const float r = std::max(length(q), 1e-6f);
        const vec2 n = q * (1.0f / r);
        // Concentric marks: the noise varies fast with the radius and slowly around the circle.
        const float marks = 0.7f * turning(r * turn_freq, (n.x + 2.0f * n.y) * 1.5f) +
                            0.3f * turning(r * turn_freq * 2.9f + 13.0f, (2.0f * n.x - n.y) * 2.0f + 7.0f);
        const float cross = n.x * light.dir.y - n.y * light.dir.x;
        const float bowtie = bowtie_amp * cross * cross * cross * cross;
        float v = 1.0f + turn_amp * marks + mottle_amp * turning.fbm(u.x, u.y, 2.0f, 2);
        rgb base = colour;
        if (kind == style::bearing && r > shield_in && r < shield_out) {
            base = shield_colour;
            v = 1.0f + 0.3f * turn_amp * marks;
        }
        const float facing = dot(n, light.dir);  // > 0 on the side towards the light
        float edge = 0;
        if (outer - r < chamfer) edge += 0.35f * facing;
        if (inner > 0 && r - inner < chamfer) edge -= 0.35f * facing;
        // Fine dark grooves where the bearing's rings meet.
        if (kind == style::bearing) {
            const float g = std::min(std::fabs(r - shield_in), std::fabs(r - shield_out)) / 0.006f;
            v *= 1.0f - 0.5f * std::max(0.0f, 1.0f - g * g);
        }
        return base * v + grey(bowtie + edge * luminance(base));
    }
    rgb shade(vec2 u) const noexcept { return light.apply(material(u), u); }
};

// A rounded rectangular plate, rotated, with up to four through holes; brushed, painted or
// bead-blasted, with a bevel along every edge.
struct plate_part {
    enum class finish { brushed, painted, blasted };
    finish kind = finish::brushed;
    vec2 centre{0.5f, 0.5f};
    float ca = 1, sa = 0;  // rotation of the plate frame
    float hx = 0.35f, hy = 0.25f, corner = 0.05f;
    int hole_count = 0;
    std::array<vec2, 4> hole_centre{};  // plate frame, unit coordinates
    std::array<float, 4> hole_radius{};
    float bevel = 0.015f;
    rgb paint;
    float peel = 0.02f;
    brushed_metal metal;
    lattice_noise grain;
    lighting light;

    static plate_part draw(draw_cursor& c, core::philox_stream lattices, int first, const lighting& l) {
        plate_part p;
        const float pick = c.uniform();
        p.kind = pick < 0.45f ? finish::brushed : (pick < 0.75f ? finish::painted : finish::blasted);
        p.centre = {0.5f + c.uniform(-0.06f, 0.06f), 0.5f + c.uniform(-0.06f, 0.06f)};
        const float angle = c.uniform(-0.6f, 0.6f);
        p.ca = std::cos(angle);
        p.sa = std::sin(angle);
        p.hx = c.uniform(0.26f, 0.4f);
        p.hy = c.uniform(0.16f, 0.3f);
        // Keep the whole plate in the frame, with a margin for its shadow.
        const float ex = p.hx * std::fabs(p.ca) + p.hy * std::fabs(p.sa);
        const float ey = p.hx * std::fabs(p.sa) + p.hy * std::fabs(p.ca);
        const float room = 0.46f - std::max(std::fabs(p.centre.x - 0.5f), std::fabs(p.centre.y - 0.5f));
        const float fit = std::min(1.0f, room / std::max(ex, ey));
        p.hx *= fit;
        p.hy *= fit;
        p.corner = c.uniform(0.02f, 0.9f * std::min(p.hy, 0.12f));
        const float layout = c.uniform();
        const float r = c.uniform(0.025f, 0.055f);
        const float m = std::max(p.corner, r + 0.03f);
        if (layout < 0.3f) {
            p.hole_count = 0;
        } else if (layout < 0.65f) {
            p.hole_count = 4;
            const float ix = p.hx - m, iy = p.hy - m;
            p.hole_centre = {vec2{ix, iy}, vec2{-ix, iy}, vec2{ix, -iy}, vec2{-ix, -iy}};
        } else if (layout < 0.85f) {
            p.hole_count = 2;
            p.hole_centre[0] = {p.hx - m, 0.0f};
            p.hole_centre[1] = {-(p.hx - m), 0.0f};
        } else {
            p.hole_count = 1;
            p.hole_centre[0] = {0.0f, 0.0f};
        }
        for (int h = 0; h < p.hole_count; ++h) p.hole_radius[static_cast<std::size_t>(h)] = p.hole_count == 1 ? 1.8f * r : r;
        p.bevel = c.uniform(0.008f, 0.02f);
        static constexpr rgb paints[] = {{0.2f, 0.32f, 0.55f}, {0.62f, 0.62f, 0.6f}, {0.25f, 0.42f, 0.28f},
                                         {0.82f, 0.45f, 0.12f}, {0.75f, 0.72f, 0.62f}, {0.15f, 0.15f, 0.16f}};
        p.paint = p.kind == finish::blasted ? grey(c.uniform(0.55f, 0.72f)) : paints[c.integer(0, 5)] * c.uniform(0.9f, 1.1f);
        p.peel = c.uniform(0.01f, 0.04f);
        p.metal = brushed_metal::draw(c, lattices, first, l);
        // Brushed along (or across) the plate's long side.
        const float brush = angle + (c.chance(0.7f) ? 0.0f : 0.5f * pi);
        p.metal.ca = std::cos(brush);
        p.metal.sa = std::sin(brush);
        p.grain = make_lattice(lattices, first + 2);
        p.light = l;
        return p;
    }

    vec2 to_plate(vec2 u) const noexcept {
        const vec2 q = u - centre;
        return {ca * q.x + sa * q.y, -sa * q.x + ca * q.y};
    }

    float sdf(vec2 u) const noexcept {
        const vec2 p = to_plate(u);
        float d = rounded_box_distance(p, hx, hy, corner);
        for (int h = 0; h < hole_count; ++h) {
            const auto k = static_cast<std::size_t>(h);
            d = std::max(d, hole_radius[k] - length(p - hole_centre[k]));
        }
        return d;
    }

    rgb material(vec2 u) const noexcept {
        rgb base;
        if (kind == finish::brushed) {
            base = metal.material(u);
        } else {
            const float fine = grain(u.x * 120.0f, u.y * 120.0f);
            const float amp = kind == finish::blasted ? 0.08f : peel;
            base = paint * (1.0f + amp * fine + 0.03f * grain.fbm(u.x, u.y, 3.0f, 2));
            if (kind == finish::painted) {
                const vec2 h = u - centre - light.dir * 0.15f;
                base = base + grey(0.08f * std::exp(-dot(h, h) / 0.03f));
            }
        }
        // The bevel: inside a band along every edge the surface tilts towards the edge normal.
        const float d = sdf(u);
        if (-d < bevel) {
            constexpr float e = 1e-3f;
            const vec2 g{sdf({u.x + e, u.y}) - sdf({u.x - e, u.y}), sdf({u.x, u.y + e}) - sdf({u.x, u.y - e})};
            const float gl = std::max(length(g), 1e-9f);
            const float facing = dot(g * (1.0f / gl), light.dir);
            base = base * (1.0f + 0.45f * facing);
        }
        return base;
    }
    rgb shade(vec2 u) const noexcept { return light.apply(material(u), u); }
};

}  // namespace imbdef::data::synthetic_detail
