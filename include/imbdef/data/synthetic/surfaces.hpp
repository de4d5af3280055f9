#pragma once
// The procedural surfaces of the synthetic dataset: brushed metal, woven fabric, wood and
// speckled ceramic, and the lighting they are seen under. Each surface is a set of parameters
// drawn once per sample and a pure function shade(u) of the unit coordinate u in [0, 1]^2, so a
// surface can be evaluated anywhere (defects re-evaluate it at displaced coordinates) and renders
// the same scene at every resolution.

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "random.hpp"
#include "raster.hpp"

namespace imbdef::data::synthetic_detail {

inline constexpr float pi = 3.14159265358979f;

// A smooth triangle wave of period 1 in [-1, 1]: a cheap stand-in for a sine in shading.
inline float wave(float x) noexcept {
    const float f = x - std::floor(x);
    const float t = 4.0f * std::fabs(f - 0.5f) - 1.0f;
    return t * (1.5f - 0.5f * t * t);
}

// cos(pi x) for x in [-1/2, 1/2], within 0.02: a Taylor polynomial, cheaper than std::cos in the
// per-pixel shading where that accuracy is plenty.
inline float cos_pi_half(float x) noexcept {
    const float x2 = x * x;
    return 1.0f + x2 * (-4.934802f + 4.058712f * x2);
}

// Illumination: a brightness ramp towards the light, vignetting, exposure and a light colour.
struct lighting {
    vec2 dir{1, 0};        // unit vector towards the light, in the image plane
    float gradient = 0;    // relative brightness change across the image along dir
    float exposure = 1;    // overall gain
    float vignette = 0;    // relative darkening at the corners
    rgb tint{1, 1, 1};     // colour of the light

    static lighting draw(draw_cursor& c) {
        lighting l;
        const float angle = c.uniform(0.0f, 2.0f * pi);
        l.dir = {std::cos(angle), std::sin(angle)};
        l.gradient = c.uniform(0.05f, 0.45f);
        l.exposure = c.uniform(0.85f, 1.12f);
        l.vignette = c.uniform(0.0f, 0.35f);
        const float warmth = c.uniform(-0.04f, 0.04f);
        l.tint = {1.0f + warmth, 1.0f, 1.0f - warmth};
        return l;
    }
    float factor(vec2 u) const noexcept {
        const vec2 q{u.x - 0.5f, u.y - 0.5f};
        return exposure * (1.0f + gradient * dot(q, dir)) * (1.0f - vignette * 2.0f * dot(q, q));
    }
    rgb apply(rgb albedo, vec2 u) const noexcept { return albedo * tint * factor(u); }
};

// Brushed metal: fine streaks along the brushing direction, a broad anisotropic sheen band across
// it, and low-frequency mottling.
struct brushed_metal {
    rgb base;
    float ca = 1, sa = 0;  // brushing direction
    float along_freq = 4, across_freq = 100;
    float streak_amp = 0.1f, mottle_amp = 0.03f;
    float sheen_pos = 0, sheen_width = 0.2f, sheen_amp = 0.2f;
    lattice_noise streaks, mottle;
    lighting light;

    // The metal colours: steel, aluminium, dark titanium, brass.
    static rgb draw_metal_colour(draw_cursor& c) {
        const float pick = c.uniform();
        if (pick < 0.45f) return grey(c.uniform(0.50f, 0.66f)) * rgb{0.97f, 1.0f, 1.04f};
        if (pick < 0.75f) return grey(c.uniform(0.66f, 0.80f));
        if (pick < 0.90f) return grey(c.uniform(0.34f, 0.46f)) * rgb{1.0f, 1.0f, 1.05f};
        return rgb{0.78f, 0.62f, 0.32f} * c.uniform(0.85f, 1.05f);
    }

    static brushed_metal draw(draw_cursor& c, core::philox_stream lattices, int first, const lighting& l) {
        brushed_metal m;
        m.base = draw_metal_colour(c);
        const float pick = c.uniform();
        float angle = pick < 0.4f ? 0.0f : (pick < 0.8f ? 0.5f * pi : c.uniform(0.0f, pi));
        angle += c.uniform(-0.08f, 0.08f);
        m.ca = std::cos(angle);
        m.sa = std::sin(angle);
        m.along_freq = c.uniform(2.0f, 6.0f);
        m.across_freq = c.uniform(70.0f, 150.0f);
        m.streak_amp = c.uniform(0.06f, 0.16f);
        m.mottle_amp = c.uniform(0.02f, 0.06f);
        m.sheen_pos = c.uniform(-0.4f, 0.4f);
        m.sheen_width = c.uniform(0.12f, 0.35f);
        m.sheen_amp = c.uniform(0.05f, 0.3f);
        m.streaks = make_lattice(lattices, first);
        m.mottle = make_lattice(lattices, first + 1);
        m.light = l;
        return m;
    }

    // Albedo and sheen before lighting, in the brushing frame (s along, t across the streaks).
    rgb material(vec2 u) const noexcept {
        const float qx = u.x - 0.5f, qy = u.y - 0.5f;
        const float s = ca * qx + sa * qy;
        const float t = -sa * qx + ca * qy;
        const float streak = 0.65f * streaks(s * along_freq, t * across_freq) +
                             0.35f * streaks(s * along_freq * 2.3f + 21.0f, t * across_freq * 2.7f + 7.0f);
        const float blotch = mottle_amp * mottle.fbm(u.x, u.y, 3.0f, 3);
        const float d = (s - sheen_pos) / sheen_width;
        const float sheen = sheen_amp * std::exp(-d * d);
        return base * (1.0f + streak_amp * streak + blotch) + grey(sheen);
    }
    rgb shade(vec2 u) const noexcept { return light.apply(material(u), u); }
};

// Woven fabric: warp yarns (vertical in the weave frame) and weft yarns (horizontal) interlaced in
// a plain or twill weave. Each yarn is shaded as a cylinder that dips where it passes under a
// crossing yarn, carries fibre streaks and a twist pattern, and wanders and varies in thickness;
// the gaps between yarns are dark.
struct woven_fabric {
    float yarns = 24;        // yarn pitch: yarns per image side
    float ca = 1, sa = 0;    // weave rotation
    int weave_n = 2, weave_k = 1;  // warp on top at crossing (i, j) when (i - j) mod n < k
    rgb warp_colour, weft_colour, gap_colour;
    float thickness = 0.85f, thickness_jitter = 0.1f;  // yarn width as a fraction of the pitch
    float wobble = 0.15f;    // yarn wander, in pitches
    float fibre_amp = 0.12f, twist_amp = 0.08f, tone_jitter = 0.06f;
    float px_per_pitch = 5;  // for anti-aliasing the yarn edges
    lattice_noise field, fibres;
    lighting light;

    static woven_fabric draw(draw_cursor& c, core::philox_stream lattices, int first, const lighting& l, int resolution) {
        woven_fabric f;
        f.yarns = std::min(c.uniform(14.0f, 34.0f), static_cast<float>(resolution) / 3.2f);
        f.px_per_pitch = static_cast<float>(resolution) / f.yarns;
        const float angle = c.uniform(-0.08f, 0.08f) + (c.chance(0.5f) ? 0.0f : 0.5f * pi);
        f.ca = std::cos(angle);
        f.sa = std::sin(angle);
        const float weave = c.uniform();
        if (weave < 0.55f) f.weave_n = 2, f.weave_k = 1;        // plain
        else if (weave < 0.8f) f.weave_n = 3, f.weave_k = 2;    // 2/1 twill
        else f.weave_n = 4, f.weave_k = 2;                      // 2/2 twill
        // Palettes: denim, natural canvas, grey suiting, navy, olive, burgundy.
        static constexpr rgb warps[] = {{0.16f, 0.24f, 0.45f}, {0.78f, 0.70f, 0.55f}, {0.55f, 0.55f, 0.56f},
                                        {0.13f, 0.16f, 0.30f}, {0.42f, 0.44f, 0.26f}, {0.48f, 0.14f, 0.18f}};
        static constexpr rgb wefts[] = {{0.80f, 0.78f, 0.72f}, {0.74f, 0.66f, 0.50f}, {0.45f, 0.45f, 0.47f},
                                        {0.20f, 0.23f, 0.38f}, {0.50f, 0.50f, 0.32f}, {0.42f, 0.12f, 0.16f}};
        const int p = c.integer(0, 5);
        const float tone = c.uniform(0.85f, 1.15f);
        f.warp_colour = warps[p] * tone;
        f.weft_colour = wefts[p] * tone * c.uniform(0.92f, 1.08f);
        f.gap_colour = f.warp_colour * 0.22f;
        f.thickness = c.uniform(0.72f, 0.92f);
        f.thickness_jitter = c.uniform(0.03f, 0.12f);
        f.wobble = c.uniform(0.05f, 0.25f);
        f.fibre_amp = c.uniform(0.06f, 0.18f);
        f.twist_amp = c.uniform(0.03f, 0.12f);
        f.tone_jitter = c.uniform(0.02f, 0.08f);
        f.field = make_lattice(lattices, first);
        f.fibres = make_lattice(lattices, first + 1);
        f.light = l;
        return f;
    }

    // The weave frame of u: x across the warp yarns, y across the weft yarns, in pitches.
    vec2 weave_coords(vec2 u) const noexcept {
        const float qx = (u.x - 0.5f) * yarns, qy = (u.y - 0.5f) * yarns;
        vec2 a{ca * qx + sa * qy, -sa * qx + ca * qy};
        a.x += wobble * field(a.x * 0.35f, a.y * 0.1f);
        a.y += wobble * field(a.x * 0.1f + 31.0f, a.y * 0.35f + 17.0f);
        return a;
    }

    // The colour at weave coordinates a, with warp yarn `skip_warp` (or weft yarn `skip_weft`)
    // removed: what a broken yarn leaves behind (see the fray defect).
    rgb material_at(vec2 a, int skip_warp = INT32_MIN, int skip_weft = INT32_MIN) const noexcept {
        const float fi = std::floor(a.x), fj = std::floor(a.y);
        const int i = static_cast<int>(fi), j = static_cast<int>(fj);
        const float fa = a.x - fi - 0.5f, fb = a.y - fj - 0.5f;
        const float hw_warp = 0.5f * thickness * (1.0f + thickness_jitter * fibres.value(i, 7));
        const float hw_weft = 0.5f * thickness * (1.0f + thickness_jitter * fibres.value(j, 13));
        const float cov_warp = i == skip_warp ? 0.0f : clamp01((hw_warp - std::fabs(fa)) * px_per_pitch + 0.5f);
        const float cov_weft = j == skip_weft ? 0.0f : clamp01((hw_weft - std::fabs(fb)) * px_per_pitch + 0.5f);
        int phase = (i - j) % weave_n;
        if (phase < 0) phase += weave_n;
        const bool warp_on_top = phase < weave_k;

        const float rw = fa / hw_warp, rf = fb / hw_weft;
        const float pw = std::sqrt(clamp01(1.0f - rw * rw));
        const float pf = std::sqrt(clamp01(1.0f - rf * rf));
        const float fibre_w = 1.0f + fibre_amp * fibres(a.x * 9.0f, a.y * 0.9f);
        const float fibre_f = 1.0f + fibre_amp * fibres(a.x * 0.9f + 23.0f, a.y * 9.0f + 5.0f);
        const float twist_w = 1.0f + twist_amp * wave(a.y * 2.5f + fa * 1.5f);
        const float twist_f = 1.0f + twist_amp * wave(a.x * 2.5f + fb * 1.5f);
        const float tone_w = 1.0f + tone_jitter * fibres.value(i, 29);
        const float tone_f = 1.0f + tone_jitter * fibres.value(j, 41);
        // A yarn on top is brightest over the crossing and dips where it goes under the next one.
        const float rise_w = 0.72f + 0.28f * cos_pi_half(fb);
        const float rise_f = 0.72f + 0.28f * cos_pi_half(fa);
        const rgb warp = warp_colour * ((0.45f + 0.55f * pw) * fibre_w * twist_w * tone_w);
        const rgb weft = weft_colour * ((0.45f + 0.55f * pf) * fibre_f * twist_f * tone_f);
        if (warp_on_top) {
            const rgb under = mix(gap_colour, weft * 0.55f, cov_weft);
            return mix(under, warp * rise_w, cov_warp);
        }
        const rgb under = mix(gap_colour, warp * 0.55f, cov_warp);
        return mix(under, weft * rise_f, cov_weft);
    }
    rgb shade(vec2 u) const noexcept { return light.apply(material_at(weave_coords(u)), u); }
};

// Wood: growth rings around a pith outside the image, stretched along the grain and distorted by
// noise, with dark latewood bands, fine pores along the grain, and a satin sheen.
struct wood {
    rgb early, late;
    float ca = 1, sa = 0;     // grain direction
    float pith_t = 1.5f;      // pith distance across the grain (unit coordinates)
    float pith_s = 0;         // and along it
    float stretch = 0.2f;     // ring elongation along the grain (smaller is longer)
    float spacing = 0.04f;    // ring spacing
    float distortion = 0.02f, pore_amp = 0.1f, latewood = 0.75f;
    lattice_noise warp_noise, pores;
    lighting light;

    static wood draw(draw_cursor& c, core::philox_stream lattices, int first, const lighting& l) {
        wood w;
        // Pine, oak, walnut, maple, cherry.
        static constexpr rgb earlies[] = {{0.86f, 0.70f, 0.48f}, {0.74f, 0.58f, 0.38f}, {0.46f, 0.32f, 0.22f},
                                          {0.90f, 0.80f, 0.64f}, {0.72f, 0.45f, 0.30f}};
        static constexpr rgb lates[] = {{0.64f, 0.42f, 0.22f}, {0.52f, 0.38f, 0.22f}, {0.28f, 0.18f, 0.12f},
                                        {0.76f, 0.62f, 0.44f}, {0.52f, 0.30f, 0.19f}};
        const int p = c.integer(0, 4);
        const float tone = c.uniform(0.9f, 1.1f);
        w.early = earlies[p] * tone;
        w.late = lates[p] * tone;
        const float angle = (c.chance(0.5f) ? 0.0f : 0.5f * pi) + c.uniform(-0.15f, 0.15f);
        w.ca = std::cos(angle);
        w.sa = std::sin(angle);
        w.pith_t = c.sign() * c.uniform(0.6f, 2.5f);
        w.pith_s = c.uniform(-0.5f, 0.5f);
        w.stretch = c.uniform(0.08f, 0.5f);
        w.spacing = c.uniform(0.025f, 0.07f);
        w.distortion = c.uniform(0.005f, 0.03f);
        w.pore_amp = c.uniform(0.05f, 0.15f);
        w.latewood = c.uniform(0.55f, 0.85f);
        w.warp_noise = make_lattice(lattices, first);
        w.pores = make_lattice(lattices, first + 1);
        w.light = l;
        return w;
    }

    rgb material(vec2 u) const noexcept {
        const float qx = u.x - 0.5f, qy = u.y - 0.5f;
        const float s = ca * qx + sa * qy;
        const float t = -sa * qx + ca * qy;
        const float ds = (s - pith_s) * stretch, dt = t - pith_t;
        const float r = std::sqrt(ds * ds + dt * dt) + distortion * warp_noise.fbm(s * 0.6f, t * 2.5f, 2.0f, 3);
        // Rings vary in width from year to year.
        const float phase = r / spacing + 0.3f * warp_noise(r / spacing * 0.4f + 40.0f, 3.3f);
        const float f = phase - std::floor(phase);
        // Early wood lightens through the ring, late wood is a darker band with a soft edge.
        const float band = smoothstep(latewood - 0.12f, latewood, f) * (1.0f - smoothstep(0.93f, 1.0f, f));
        const float pore = pore_amp * pores(s * 6.0f, t * 160.0f) + 0.4f * pore_amp * pores(s * 1.5f + 9.0f, t * 40.0f);
        const rgb albedo = mix(early * (0.94f + 0.08f * f), late, band) * (1.0f + pore);
        return albedo;
    }
    rgb shade(vec2 u) const noexcept { return light.apply(material(u), u); }
};

// Speckled ceramic: a smooth glaze with slow tone variation and a fine orange-peel texture, iron
// speckles (dark, a few light) scattered over it, and a soft specular highlight.
struct speckled_ceramic {
    rgb glaze, speckle_dark, speckle_light;
    float variation = 0.03f, peel = 0.01f;
    vec2 highlight{0.3f, 0.3f};
    float highlight_radius = 0.3f, highlight_amp = 0.15f;
    float speckle_density = 200;  // speckles per unit area
    float speckle_size = 0.004f;  // mean radius, unit coordinates
    lattice_noise tone, peel_noise;
    lighting light;
    core::philox_stream speckle_stream;

    static speckled_ceramic draw(draw_cursor& c, core::philox_stream lattices, int first, const lighting& l,
                                 core::philox_stream extra) {
        speckled_ceramic m;
        // White, cream, sky blue, celadon, warm grey, sand.
        static constexpr rgb glazes[] = {{0.90f, 0.90f, 0.88f}, {0.88f, 0.84f, 0.72f}, {0.66f, 0.76f, 0.84f},
                                         {0.64f, 0.76f, 0.66f}, {0.62f, 0.60f, 0.57f}, {0.80f, 0.70f, 0.56f}};
        m.glaze = glazes[c.integer(0, 5)] * c.uniform(0.9f, 1.05f);
        m.speckle_dark = rgb{0.25f, 0.18f, 0.13f} * c.uniform(0.6f, 1.2f);
        m.speckle_light = rgb{0.97f, 0.95f, 0.9f};
        m.variation = c.uniform(0.01f, 0.05f);
        m.peel = c.uniform(0.005f, 0.02f);
        m.highlight = {c.uniform(-0.1f, 1.1f), c.uniform(-0.1f, 1.1f)};
        m.highlight_radius = c.uniform(0.15f, 0.45f);
        m.highlight_amp = c.uniform(0.03f, 0.18f);
        m.speckle_density = c.log_uniform(60.0f, 450.0f);
        m.speckle_size = c.uniform(0.0025f, 0.006f);
        m.tone = make_lattice(lattices, first);
        m.peel_noise = make_lattice(lattices, first + 1);
        m.light = l;
        m.speckle_stream = extra;
        return m;
    }

    rgb material(vec2 u) const noexcept {
        const vec2 h = u - highlight;
        const float spec = highlight_amp * std::exp(-dot(h, h) / (highlight_radius * highlight_radius));
        const float v = 1.0f + variation * tone.fbm(u.x, u.y, 2.5f, 3) + peel * peel_noise(u.x * 90.0f, u.y * 90.0f);
        return glaze * v + grey(spec);
    }
    rgb shade(vec2 u) const noexcept { return light.apply(material(u), u); }

    // Scatters the speckles onto an already shaded canvas. Speckle k is drawn from offsets 4k..4k+3
    // of the speckle stream; a speckle smaller than a pixel keeps its ink (contrast times area).
    void add_speckles(canvas& img) const {
        const float n = static_cast<float>(img.n);
        const int count = static_cast<int>(speckle_density);
        for (int k = 0; k < count; ++k) {
            const core::philox_block r = speckle_stream.block(static_cast<std::uint64_t>(k));
            const float cx = core::uniform_from_bits(r.v[0]) * n, cy = core::uniform_from_bits(r.v[1]) * n;
            const float size_draw = core::uniform_from_bits(r.v[2]);
            const float radius = speckle_size * n * (0.4f + 1.6f * size_draw * size_draw);
            const bool light_speckle = core::uniform_from_bits(r.v[3]) < 0.12f;
            const float sigma = std::max(radius, 0.55f);
            const float ink = std::min(1.0f, (radius * radius) / (sigma * sigma)) * (light_speckle ? 0.5f : 0.85f);
            const rgb target = light_speckle ? speckle_light : speckle_dark;
            const pixel_box box = box_around(cx - 2.5f * sigma, cy - 2.5f * sigma, cx + 2.5f * sigma, cy + 2.5f * sigma, img.n);
            for (int y = box.y0; y < box.y1; ++y)
                for (int x = box.x0; x < box.x1; ++x) {
                    const float dx = static_cast<float>(x) + 0.5f - cx, dy = static_cast<float>(y) + 0.5f - cy;
                    const float w = ink * std::exp(-(dx * dx + dy * dy) / (sigma * sigma));
                    rgb& p = img.at(x, y);
                    p = mix(p, target * light.factor({(static_cast<float>(x) + 0.5f) / n, (static_cast<float>(y) + 0.5f) / n}), w);
                }
        }
    }
};

}  // namespace imbdef::data::synthetic_detail
