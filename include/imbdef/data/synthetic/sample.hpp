#pragma once
// One sample of the synthetic dataset: its image, defect mask, valid-region mask, labels and
// ground truth, rendered from (seed, split, index within the split) alone.
//
// Rendering: the scene's surface S (a texture, or the part's surface) is shaded per pixel; defects
// are drawn onto S (see defects.hpp for the alpha/mask contract); a part is composited onto its
// shadowed backdrop by its anti-aliased coverage; sensor grain is added and the result rounded to
// 8 bits. The valid region is the set of pixels whose centre lies on the part (coverage >= 1/2),
// or the whole frame for a texture. Rendering the same sample without its defects (its matching
// background) changes only the pixels where some defect's alpha is positive.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "../../core/parallel.hpp"
#include "config.hpp"
#include "defects.hpp"
#include "parts.hpp"
#include "random.hpp"
#include "raster.hpp"
#include "surfaces.hpp"

namespace imbdef::data {

// The ground truth of a part (pixels, image frame; y down). For a texture `present` is false and
// the valid region is the whole frame.
struct synthetic_part {
    struct hole {
        float x = 0, y = 0, radius = 0;
    };
    bool present = false;
    float centre_x = 0, centre_y = 0;
    float outer_radius = 0, inner_radius = 0;                 // disc; inner 0 when there is no hole
    float half_width = 0, half_height = 0, corner_radius = 0;  // plate, in its own frame
    float angle = 0;                                          // plate rotation, radians
    std::vector<hole> holes;                                  // plate through holes

    // The exact area of the silhouette in square pixels (holes excluded).
    double area(int resolution) const {
        if (!present) return static_cast<double>(resolution) * resolution;
        constexpr double pi = 3.14159265358979323846;
        if (outer_radius > 0)
            return pi * (static_cast<double>(outer_radius) * outer_radius - static_cast<double>(inner_radius) * inner_radius);
        double a = 4.0 * half_width * half_height - (4.0 - pi) * corner_radius * corner_radius;
        for (const hole& h : holes) a -= pi * h.radius * h.radius;
        return a;
    }
};

// One defect of a sample, measured on its own mask (alpha >= 1/2 within the valid region).
struct synthetic_defect {
    defect_kind kind = defect_kind::scratch;
    int x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // bounding box of its mask, [x0, x1) x [y0, y1)
    core::index_t pixels = 0;
};

struct synthetic_labels {
    std::string scene;                 // to_string(scene_kind)
    std::vector<std::string> defects;  // one name per defect, in rendering order; empty when good
    std::string defect_type;           // the MVTec folder: "good", a defect name, or "combined"
    bool is_defective = false;
};

struct synthetic_sample {
    xt::xtensor<std::uint8_t, 3> image;         // (H, W, C)
    xt::xtensor<std::uint8_t, 2> defect_mask;   // 0 / 255
    xt::xtensor<std::uint8_t, 2> valid_region;  // 0 / 255
    synthetic_labels labels;
    synthetic_slot slot;
    scene_kind scene = scene_kind::disc;
    std::vector<synthetic_defect> defects;
    synthetic_part part;
};

namespace synthetic_detail {

// The scene, defect count and kinds of a sample: the first draws of its streams, shared by the
// labels (no rendering) and the renderer.
struct sample_plan {
    scene_kind scene = scene_kind::disc;
    std::vector<defect_kind> defects;
};

// The defects stream's cursor after planning continues into the defects' shapes.
inline sample_plan plan_sample(const synthetic_config& cfg, synthetic_slot slot, draw_cursor& defect_draws) {
    sample_plan p;
    const auto scenes = static_cast<core::index_t>(cfg.scenes.size());
    p.scene = cfg.scenes[static_cast<std::size_t>(slot.index % scenes)];
    if (slot.split != synthetic_split::test_defective) return p;
    // Kinds cycle over the sample index, so every kind gets its share of the few defective images.
    const std::vector<defect_kind> kinds = cfg.defects_for(p.scene);
    const auto nk = static_cast<core::index_t>(kinds.size());
    const defect_kind primary = kinds[static_cast<std::size_t>((slot.index / scenes) % nk)];
    // 1 defect most often, more with decreasing probability.
    int count = 1;
    while (count < cfg.max_defects_per_image && defect_draws.chance(0.4f)) ++count;
    const bool combined = defect_draws.uniform() < static_cast<float>(cfg.combined_fraction) && count > 1 && nk > 1;
    p.defects.push_back(primary);
    for (int d = 1; d < count; ++d) {
        if (combined) {
            // The second defect always differs, so a combined sample really mixes kinds.
            const auto pick = defect_draws.integer(0, static_cast<int>(nk) - (d == 1 ? 2 : 1));
            defect_kind k = kinds[static_cast<std::size_t>(pick)];
            if (d == 1 && k == primary) k = kinds[static_cast<std::size_t>(nk - 1)];
            p.defects.push_back(k);
        } else {
            p.defects.push_back(primary);
        }
    }
    return p;
}

inline synthetic_labels labels_of(const sample_plan& p) {
    synthetic_labels l;
    l.scene = std::string(to_string(p.scene));
    l.is_defective = !p.defects.empty();
    for (defect_kind d : p.defects) l.defects.emplace_back(to_string(d));
    if (!l.is_defective) {
        l.defect_type = "good";
    } else {
        const bool mixed = std::any_of(p.defects.begin(), p.defects.end(), [&](defect_kind d) { return d != p.defects.front(); });
        l.defect_type = mixed ? std::string("combined") : std::string(to_string(p.defects.front()));
    }
    return l;
}

// Where a defect may go: the anchor is drawn uniformly in the frame until its point lies at least
// `inset` (unit coordinates) inside the valid region, keeping the deepest try after 32; it is
// snapped to a pixel centre, and if that pixel is not valid (possible only after 32 misses), to
// the nearest valid pixel. Returns the anchor (pixels) and its depth inside the region (unit).
struct anchor_site {
    vec2 anchor;
    float depth = 0;
};

template <class Sdf>
anchor_site place_anchor(draw_cursor& c, const Sdf& sdf, float inset, const plane& valid) {
    vec2 best{0.5f, 0.5f};
    float best_d = std::numeric_limits<float>::infinity();
    for (int attempt = 0; attempt < 32; ++attempt) {
        const vec2 u{c.uniform(0.04f, 0.96f), c.uniform(0.04f, 0.96f)};
        const float d = sdf(u);
        if (d < best_d) best_d = d, best = u;
        if (d <= -inset) break;
    }
    const int n = valid.n;
    const float fn = static_cast<float>(n);
    int px = std::clamp(static_cast<int>(best.x * fn), 0, n - 1);
    int py = std::clamp(static_cast<int>(best.y * fn), 0, n - 1);
    if (valid.at(px, py) <= 0.0f) {
        long best_r = std::numeric_limits<long>::max();
        int bx = px, by = py;
        for (int y = 0; y < n; ++y)
            for (int x = 0; x < n; ++x)
                if (valid.at(x, y) > 0.0f) {
                    const long r = static_cast<long>(x - px) * (x - px) + static_cast<long>(y - py) * (y - py);
                    if (r < best_r) best_r = r, bx = x, by = y;
                }
        px = bx;
        py = by;
    }
    const vec2 anchor{static_cast<float>(px) + 0.5f, static_cast<float>(py) + 0.5f};
    return {anchor, std::max(0.0f, -sdf(anchor * (1.0f / fn)))};
}

// Defects with an area (holes, stains, fraying) stay inside the valid region where they fit:
// they are placed at least their radius deep and shrunk to the room there when no such place
// turns up. Lines (scratches, cracks) only need their middle inside; the region clips the rest.
inline bool is_blob(defect_kind k) noexcept { return k == defect_kind::hole || k == defect_kind::stain || k == defect_kind::fray; }

// Target area of a defect, as a fraction of the image: log-uniform over a range per kind, so
// tiny (0.1 %) and large (up to 15 %) defects both occur.
inline float draw_area_fraction(draw_cursor& c, defect_kind k) {
    switch (k) {
        case defect_kind::scratch: return c.log_uniform(0.001f, 0.03f);
        case defect_kind::crack: return c.log_uniform(0.001f, 0.04f);
        case defect_kind::hole: return c.log_uniform(0.001f, 0.1f);
        case defect_kind::stain: return c.log_uniform(0.003f, 0.15f);
        case defect_kind::fray: return c.log_uniform(0.004f, 0.1f);
    }
    return 0.01f;
}

struct render_result {
    int n = 0;
    canvas image;         // composited, before grain
    plane valid;          // 0 / 1
    std::vector<std::uint8_t> mask;  // 0 / 255
    sample_plan plan;
    std::vector<synthetic_defect> defects;
    synthetic_part part;
};

// The scene of one sample: whichever of the surfaces or parts it is, with its backdrop.
struct scene_state {
    scene_kind kind = scene_kind::disc;
    lighting light;
    brushed_metal metal;
    woven_fabric fabric;
    wood timber;
    speckled_ceramic ceramic;
    disc_part disc;
    plate_part plate;
    backdrop ground;
    float shadow_dx = 0, shadow_dy = 0, shadow_soft = 3, shadow_dark = 0.4f;

    float sdf(vec2 u) const noexcept {
        if (kind == scene_kind::disc) return disc.sdf(u);
        if (kind == scene_kind::plate) return plate.sdf(u);
        return -std::min(std::min(u.x, 1.0f - u.x), std::min(u.y, 1.0f - u.y));
    }
    rgb surface(vec2 u) const noexcept {
        switch (kind) {
            case scene_kind::brushed_metal: return metal.shade(u);
            case scene_kind::woven_fabric: return fabric.shade(u);
            case scene_kind::wood: return timber.shade(u);
            case scene_kind::speckled_ceramic: return ceramic.shade(u);
            case scene_kind::disc: return disc.shade(u);
            case scene_kind::plate: return plate.shade(u);
        }
        return {};
    }
    material_class material() const noexcept {
        switch (kind) {
            case scene_kind::woven_fabric: return material_class::fabric;
            case scene_kind::wood: return material_class::wood;
            case scene_kind::speckled_ceramic: return material_class::ceramic;
            case scene_kind::plate: return plate.kind == plate_part::finish::brushed ? material_class::metal : material_class::ceramic;
            default: return material_class::metal;
        }
    }
};

inline scene_state draw_scene(scene_kind kind, draw_cursor& c, core::philox_stream lattices, core::philox_stream extra, int n) {
    scene_state s;
    s.kind = kind;
    s.light = lighting::draw(c);
    switch (kind) {
        case scene_kind::brushed_metal: s.metal = brushed_metal::draw(c, lattices, 0, s.light); break;
        case scene_kind::woven_fabric: s.fabric = woven_fabric::draw(c, lattices, 0, s.light, n); break;
        case scene_kind::wood: s.timber = wood::draw(c, lattices, 0, s.light); break;
        case scene_kind::speckled_ceramic: s.ceramic = speckled_ceramic::draw(c, lattices, 0, s.light, extra); break;
        case scene_kind::disc: s.disc = disc_part::draw(c, lattices, 0, s.light); break;
        case scene_kind::plate: s.plate = plate_part::draw(c, lattices, 0, s.light); break;
    }
    if (is_part(kind)) {
        s.ground = backdrop::draw(c, lattices, 4, s.light, c.chance(0.65f));
        const float reach = c.uniform(0.008f, 0.03f);
        s.shadow_dx = -s.light.dir.x * reach;
        s.shadow_dy = -s.light.dir.y * reach;
        s.shadow_soft = c.uniform(1.5f, 5.0f);
        s.shadow_dark = c.uniform(0.25f, 0.6f);
    }
    return s;
}

inline synthetic_part part_truth(const scene_state& s, int n) {
    synthetic_part p;
    const float fn = static_cast<float>(n);
    if (s.kind == scene_kind::disc) {
        p.present = true;
        p.centre_x = s.disc.centre.x * fn;
        p.centre_y = s.disc.centre.y * fn;
        p.outer_radius = s.disc.outer * fn;
        p.inner_radius = s.disc.inner * fn;
    } else if (s.kind == scene_kind::plate) {
        const plate_part& q = s.plate;
        p.present = true;
        p.centre_x = q.centre.x * fn;
        p.centre_y = q.centre.y * fn;
        p.half_width = q.hx * fn;
        p.half_height = q.hy * fn;
        p.corner_radius = q.corner * fn;
        p.angle = std::atan2(q.sa, q.ca);
        for (int h = 0; h < q.hole_count; ++h) {
            const vec2 local = q.hole_centre[static_cast<std::size_t>(h)];
            // Inverse of to_plate: u = centre + R(angle) * local.
            const vec2 u{q.centre.x + q.ca * local.x - q.sa * local.y, q.centre.y + q.sa * local.x + q.ca * local.y};
            p.holes.push_back({u.x * fn, u.y * fn, q.hole_radius[static_cast<std::size_t>(h)] * fn});
        }
    }
    return p;
}

inline render_result render(const synthetic_config& cfg, synthetic_slot slot, bool with_defects) {
    const int n = cfg.resolution;
    const float fn = static_cast<float>(n);
    const int split = static_cast<int>(slot.split);
    const auto index = static_cast<std::uint64_t>(slot.index);
    draw_cursor scene_draws(sample_stream(cfg.seed, split, index, purpose::scene));
    draw_cursor defect_draws(sample_stream(cfg.seed, split, index, purpose::defects));

    render_result out;
    out.n = n;
    out.plan = plan_sample(cfg, slot, defect_draws);
    const scene_state scene = draw_scene(out.plan.scene, scene_draws, sample_stream(cfg.seed, split, index, purpose::lattice),
                                         sample_stream(cfg.seed, split, index, purpose::extra), n);
    out.part = part_truth(scene, n);
    const bool part = is_part(scene.kind);

    // Surface and coverage. A part's surface is shaded only where it covers the pixel.
    canvas surface(n);
    plane cover(n, 1.0f);
    out.valid = plane(n, 1.0f);
    for (int y = 0; y < n; ++y)
        for (int x = 0; x < n; ++x) {
            const vec2 u{(static_cast<float>(x) + 0.5f) / fn, (static_cast<float>(y) + 0.5f) / fn};
            if (part) {
                const float d = scene.sdf(u) * fn;
                const float cv = coverage_from_distance(d);
                cover.at(x, y) = cv;
                out.valid.at(x, y) = d <= 0.0f ? 1.0f : 0.0f;
                if (cv <= 0.0f) continue;
            }
            surface.at(x, y) = scene.surface(u);
        }
    if (scene.kind == scene_kind::speckled_ceramic) scene.ceramic.add_speckles(surface);

    // Defects, drawn in order on the surface.
    out.mask.assign(static_cast<std::size_t>(n) * static_cast<std::size_t>(n), 0);
    if (!out.plan.defects.empty()) {
        plane alpha(n);
        const lattice_noise defect_noise(sample_stream(cfg.seed, split, index, purpose::lattice),
                                         std::uint64_t{16} * lattice_noise::size * lattice_noise::size);
        double valid_pixels = 0;
        for (float v : out.valid.v) valid_pixels += v;
        const float valid_fraction = static_cast<float>(valid_pixels / (static_cast<double>(n) * n));
        vec2 grain{};
        if (scene.kind == scene_kind::wood) grain = {scene.timber.ca, scene.timber.sa};
        const defect_target target{surface, alpha, out.valid, scene.light, scene.material(),
                                   scene.kind == scene_kind::woven_fabric ? &scene.fabric : nullptr, grain, fn / 128.0f, defect_noise};
        int k = 0;
        for (defect_kind kind : out.plan.defects) {
            float area_frac = std::min(draw_area_fraction(defect_draws, kind), 0.5f * valid_fraction);
            const float radius = 1.25f * std::sqrt(area_frac / pi);  // with room for a rim or ragged edge
            const float inset = is_blob(kind) ? radius : std::min(0.5f * std::sqrt(area_frac), 0.08f);
            const anchor_site site = place_anchor(defect_draws, [&](vec2 u) { return scene.sdf(u); }, inset, out.valid);
            if (is_blob(kind) && site.depth < radius) area_frac *= (site.depth / radius) * (site.depth / radius);
            const float area_px = area_frac * fn * fn;
            const vec2 anchor = site.anchor;
            // The draws are made whether or not the defect is rendered, so the background of a
            // defective sample matches it exactly.
            if (!with_defects) continue;
            pixel_box box{};
            switch (kind) {
                case defect_kind::scratch: box = render_scratch(defect_draws, target, anchor, area_px, k); break;
                case defect_kind::crack: box = render_crack(defect_draws, target, anchor, area_px, k); break;
                case defect_kind::hole: box = render_hole(defect_draws, target, anchor, area_px, k); break;
                case defect_kind::stain: box = render_stain(defect_draws, target, anchor, area_px, k); break;
                case defect_kind::fray: box = render_fray(defect_draws, target, anchor, area_px, k); break;
            }
            synthetic_defect d;
            d.kind = kind;
            d.x0 = n, d.y0 = n, d.x1 = 0, d.y1 = 0;
            for (int y = box.y0; y < box.y1; ++y)
                for (int x = box.x0; x < box.x1; ++x) {
                    float& a = alpha.at(x, y);
                    if (a >= 0.5f) {
                        out.mask[static_cast<std::size_t>(y) * static_cast<std::size_t>(n) + static_cast<std::size_t>(x)] = 255;
                        ++d.pixels;
                        d.x0 = std::min(d.x0, x), d.y0 = std::min(d.y0, y);
                        d.x1 = std::max(d.x1, x + 1), d.y1 = std::max(d.y1, y + 1);
                    }
                    a = 0.0f;
                }
            out.defects.push_back(d);
            ++k;
        }
    }

    // Composite a part over its backdrop and the soft shadow it casts.
    out.image = std::move(surface);
    if (part) {
        const float soft = scene.shadow_soft * std::max(1.0f, fn / 128.0f);
        for (int y = 0; y < n; ++y)
            for (int x = 0; x < n; ++x) {
                const float cv = cover.at(x, y);
                if (cv >= 1.0f) continue;
                const vec2 u{(static_cast<float>(x) + 0.5f) / fn, (static_cast<float>(y) + 0.5f) / fn};
                const float sd = scene.sdf({u.x - scene.shadow_dx, u.y - scene.shadow_dy}) * fn;
                const float shadow = 1.0f - scene.shadow_dark * clamp01(0.5f - sd / soft);
                rgb& p = out.image.at(x, y);
                p = p * cv + scene.ground.shade(u) * (shadow * (1.0f - cv));
            }
    }
    return out;
}

// Sensor grain and 8-bit rounding. The grain is a function of (seed, sample, pixel) alone, the same
// with and without defects.
inline xt::xtensor<std::uint8_t, 3> finish_image(const synthetic_config& cfg, synthetic_slot slot, const canvas& img) {
    const int n = img.n;
    const auto c = static_cast<std::size_t>(cfg.channels);
    xt::xtensor<std::uint8_t, 3> out({static_cast<std::size_t>(n), static_cast<std::size_t>(n), c});
    const core::philox_stream grain = sample_stream(cfg.seed, static_cast<int>(slot.split), static_cast<std::uint64_t>(slot.index), purpose::grain);
    // Noise level, drawn from the grain stream's first word so it never shifts the pixels' words.
    const float sigma = 0.004f + 0.012f * core::uniform_from_bits(grain.bits(0));
    std::uint8_t* dst = out.data();
    const auto quantise = [](float v) {
        // A soft shoulder keeps highlights from clipping flat, as a camera's tone curve does.
        if (v > 0.8f) v = 0.8f + 0.2f * (1.0f - std::exp((0.8f - v) * 5.0f));
        const float s = v * 255.0f + 0.5f;
        return static_cast<std::uint8_t>(s <= 0.0f ? 0.0f : (s >= 255.0f ? 255.0f : s));
    };
    const std::size_t pixels = static_cast<std::size_t>(n) * static_cast<std::size_t>(n);
    for (std::size_t b = 0; b * 4 < pixels; ++b) {
        const core::philox_block r = grain.block(b + 1);
        for (std::size_t lane = 0; lane < 4 && b * 4 + lane < pixels; ++lane) {
            const std::size_t i = b * 4 + lane;
            const std::uint32_t w = r.v[lane];
            // Luminance grain: a triangular draw from two bytes (unit variance after scaling);
            // chroma grain: two smaller uniform draws.
            const float tri = (static_cast<float>(w & 0xffu) + static_cast<float>((w >> 8) & 0xffu) - 255.0f) * (1.0f / 104.1f);
            const float g = sigma * tri;
            const rgb p = img.px[i];
            if (c == 1) {
                dst[i] = quantise(luminance(p) + g);
            } else {
                const float cr = sigma * 0.35f * (static_cast<float>((w >> 16) & 0xffu) - 127.5f) * (1.0f / 73.6f);
                const float cb = sigma * 0.35f * (static_cast<float>(w >> 24) - 127.5f) * (1.0f / 73.6f);
                dst[3 * i + 0] = quantise(p.r + g + cr);
                dst[3 * i + 1] = quantise(p.g + g);
                dst[3 * i + 2] = quantise(p.b + g + cb);
            }
        }
    }
    return out;
}

}  // namespace synthetic_detail

// The labels of sample i without rendering it.
inline synthetic_labels describe_sample(const synthetic_config& cfg, core::index_t i) {
    cfg.validate();
    const synthetic_slot slot = slot_of(cfg, i);
    synthetic_detail::draw_cursor defect_draws(synthetic_detail::sample_stream(
        cfg.seed, static_cast<int>(slot.split), static_cast<std::uint64_t>(slot.index), synthetic_detail::purpose::defects));
    return synthetic_detail::labels_of(synthetic_detail::plan_sample(cfg, slot, defect_draws));
}

// Sample i (see slot_of for the index order). A pure function of (cfg, i): independent of every
// other sample and of the thread count.
inline synthetic_sample generate_sample(const synthetic_config& cfg, core::index_t i) {
    cfg.validate();
    const synthetic_slot slot = slot_of(cfg, i);
    synthetic_detail::render_result r = synthetic_detail::render(cfg, slot, true);
    const auto n = static_cast<std::size_t>(r.n);
    synthetic_sample s;
    s.image = synthetic_detail::finish_image(cfg, slot, r.image);
    s.defect_mask = xt::xtensor<std::uint8_t, 2>({n, n});
    s.valid_region = xt::xtensor<std::uint8_t, 2>({n, n});
    std::copy(r.mask.begin(), r.mask.end(), s.defect_mask.data());
    std::transform(r.valid.v.begin(), r.valid.v.end(), s.valid_region.data(),
                   [](float v) { return static_cast<std::uint8_t>(v > 0.0f ? 255 : 0); });
    s.labels = synthetic_detail::labels_of(r.plan);
    s.slot = slot;
    s.scene = r.plan.scene;
    s.defects = std::move(r.defects);
    s.part = std::move(r.part);
    return s;
}

// The defect-free background of sample i: the same scene, lighting and grain with its defects
// left out (identical to generate_sample(cfg, i).image for a good sample). It differs from the
// defective image only where some defect's alpha is positive: inside its mask and a thin fringe.
inline xt::xtensor<std::uint8_t, 3> generate_background(const synthetic_config& cfg, core::index_t i) {
    cfg.validate();
    const synthetic_slot slot = slot_of(cfg, i);
    return synthetic_detail::finish_image(cfg, slot, synthetic_detail::render(cfg, slot, false).image);
}

// Samples [first, first + count), generated in parallel on the library's thread pool; the result
// is the same for every thread count.
inline std::vector<synthetic_sample> generate_samples(const synthetic_config& cfg, core::index_t first, core::index_t count) {
    cfg.validate();
    IMBDEF_REQUIRE(first >= 0 && count >= 0 && first + count <= cfg.size(), "generate_samples",
                   "a range inside [0, " + std::to_string(cfg.size()) + ")",
                   "[" + std::to_string(first) + ", " + std::to_string(first + count) + ")");
    std::vector<synthetic_sample> out(static_cast<std::size_t>(count));
    core::parallel_for(0, count, 1, [&](core::index_t lo, core::index_t hi) {
        for (core::index_t k = lo; k < hi; ++k) out[static_cast<std::size_t>(k)] = generate_sample(cfg, first + k);
    });
    return out;
}

}  // namespace imbdef::data
