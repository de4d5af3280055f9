#pragma once
// The stage-2 metric set in one call: every number issue 11 asks of generated defects, overall and
// per class, from the metric functions of this folder (none is re-implemented here).
//
//   boundary_transition  boundary_transition.hpp, generated vs real (lower is better)
//   crop_swd             defect_crop_swd (defect_crops.hpp), SWD x 1000 of defect crops (lower)
//   diversity            clustered_diversity (diversity.hpp) of the generated defect crops around
//                        the real ones, its mean_all (DFMGAN's clustered LPIPS; 0 is collapse)
//   pairwise_diversity   mean 1 - MS-SSIM over pairs of generated defect crops (the first
//                        cluster_cap of them): clustered_diversity with a single cluster, so it
//                        needs no reals; the reference-free diversity a dataset writer can report
//   out_of_region        mean over samples with a defect of out_of_region_rate (mask_metrics.hpp)
//   mask_alignment       mean over samples with a defect of mask_alignment (mask_metrics.hpp)
//
// A sample set may come without backgrounds or valid regions (copy-paste baselines, real-vs-real
// comparisons): the metrics that need them are then absent (std::nullopt), never made up, and
// `notes` says why. The same holds for a metric whose inputs are empty (no defect in a set yet,
// early in training). Per class, a class with fewer than `min_class_samples` defects (non-empty
// masks) on a side gets its counts and the reason in `too_small`, no numbers: SWD and diversity on
// a handful of crops would be noise.
//
// Means are per sample (each defect weighs the same whatever its area), unlike the pooled
// out_of_region_rate of a whole batch. Images are [N, C, H, W] in [-1, 1]; masks, backgrounds'
// valid regions [N, 1, H, W], a pixel set when > 0. Deterministic whatever the thread count, as
// every metric used is.

#include <algorithm>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "boundary_transition.hpp"
#include "defect_crops.hpp"
#include "diversity.hpp"
#include "mask_metrics.hpp"
#include "swd.hpp"

namespace imbdef::metrics {

// A set of defect samples. Views must outlive the call.
struct defect_sample_set {
    core::const_view<float> images;  // [N, C, H, W]
    core::const_view<float> masks;   // [N, 1, H, W]
    std::span<const int> classes{};  // N class ids >= 0; empty: every sample is class 0
    std::optional<core::const_view<float>> backgrounds{};    // [N, C, H, W]: enables mask_alignment
    std::optional<core::const_view<float>> valid_regions{};  // [N, 1, H, W]: enables out_of_region
};

struct defect_metric_options {
    crop_options crops{};
    swd_options swd{};
    diversity_options diversity{};
    int boundary_radius = 4;
    core::index_t min_class_samples = 5;   // defects on each side for a class's own numbers
    std::vector<std::string> class_names;  // for to_json and the per-class entries; empty: "class k"
};

struct defect_metric_values {
    core::index_t samples = 0, defects = 0;            // generated: all, and those with a non-empty mask
    core::index_t real_samples = 0, real_defects = 0;  // the same for the reals (0 when reference-free)
    std::optional<double> boundary_transition, crop_swd, diversity, pairwise_diversity, out_of_region, mask_alignment;
    std::vector<std::string> notes;  // why a metric is absent
};

struct class_defect_metrics {
    int class_id = 0;
    std::string name;
    defect_metric_values values;  // the counts always; the metrics only when too_small is empty
    std::string too_small;        // non-empty: why this class has no numbers of its own
};

struct defect_metrics {
    defect_metric_values overall;
    std::vector<class_defect_metrics> per_class;
};

namespace detail {

inline void check_sample_set(const defect_sample_set& s, const std::string& where) {
    IMBDEF_REQUIRE(s.images.rank() == 4 && s.images.size(0) >= 1, where + " images", "a non-empty set of shape [N, C, H, W]",
                   "shape " + s.images.shape().to_string());
    require_mask_for(s.masks.shape(), s.images.shape(), where, "masks");
    if (s.backgrounds)
        IMBDEF_REQUIRE(s.backgrounds->shape() == s.images.shape(), where + " backgrounds", "shape " + s.images.shape().to_string(),
                       "shape " + s.backgrounds->shape().to_string());
    if (s.valid_regions) require_mask_for(s.valid_regions->shape(), s.images.shape(), where, "valid regions");
    const auto n = static_cast<std::size_t>(s.images.size(0));
    IMBDEF_REQUIRE(s.classes.empty() || s.classes.size() == n, where + " classes", "none or one class id per sample (" + std::to_string(n) + ")",
                   std::to_string(s.classes.size()) + " ids");
    for (std::size_t i = 0; i < s.classes.size(); ++i)
        IMBDEF_REQUIRE(s.classes[i] >= 0, where + " classes", "class ids >= 0", std::to_string(s.classes[i]) + " for sample " + std::to_string(i));
}

inline bool has_defect(core::const_view<float> masks, core::index_t i) {
    const core::index_t hw = masks.size(2) * masks.size(3);
    return std::any_of(masks.data() + i * hw, masks.data() + (i + 1) * hw, [](float v) { return v > 0.0f; });
}

inline core::index_t count_defects(core::const_view<float> masks) {
    core::index_t k = 0;
    for (core::index_t i = 0; i < masks.size(0); ++i) k += has_defect(masks, i) ? 1 : 0;
    return k;
}

// Sample i of a batch view as a batch of one.
inline core::const_view<float> one(core::const_view<float> v, core::index_t i) {
    const core::index_t per = v.numel() / v.size(0);
    return {v.data() + i * per, core::shape{1, v.size(1), v.size(2), v.size(3)}};
}

// The rows `rows` of a set, copied (the storage is `keep`, which the returned views point into).
struct gathered {
    std::vector<core::tensor<float>> keep;
    defect_sample_set set;
};
inline gathered gather(const defect_sample_set& s, const std::vector<core::index_t>& rows) {
    gathered g;
    g.keep.reserve(4);
    const auto pick = [&](core::const_view<float> v) {
        const core::index_t per = v.numel() / v.size(0), n = static_cast<core::index_t>(rows.size());
        core::tensor<float> t(core::shape{n, v.size(1), v.size(2), v.size(3)}, core::uninitialized);
        for (core::index_t k = 0; k < n; ++k) std::copy_n(v.data() + rows[static_cast<std::size_t>(k)] * per, per, t.data() + k * per);
        g.keep.push_back(std::move(t));
        return g.keep.back().cview();
    };
    g.set.images = pick(s.images);
    g.set.masks = pick(s.masks);
    if (s.backgrounds) g.set.backgrounds = pick(*s.backgrounds);
    if (s.valid_regions) g.set.valid_regions = pick(*s.valid_regions);
    return g;  // the tensors' buffers do not move with the vector, so the views stay valid
}

// mean_all of clustered diversity with one cluster: the mean distance over pairs of the first
// cluster_cap crops.
inline double pairwise_diversity(const core::tensor<float>& crops, const diversity_options& o) {
    const core::const_view<float> reference(crops.data(), core::shape{1, crops.size(1), crops.size(2), crops.size(3)});
    // One reference image: every crop is its nearest, so the single cluster holds them all.
    return clustered_diversity(crops.cview(), reference, o).mean_all;
}

// Everything that needs the generated set alone.
inline void measure_reference_free(const defect_sample_set& g, const defect_metric_options& o, const core::tensor<float>& crops,
                                   defect_metric_values& v) {
    const core::index_t n = g.images.size(0);
    v.samples = n;
    v.defects = crops.size(0);
    if (v.defects >= 2)
        v.pairwise_diversity = pairwise_diversity(crops, o.diversity);
    else
        v.notes.push_back("pairwise_diversity: needs two generated defects, found " + std::to_string(v.defects));
    if (!g.valid_regions) v.notes.push_back("out_of_region: no valid regions given");
    if (!g.backgrounds) v.notes.push_back("mask_alignment: no backgrounds given");
    if (v.defects == 0) {
        if (g.valid_regions || g.backgrounds) v.notes.push_back("out_of_region, mask_alignment: no generated sample has a defect");
        return;
    }
    double oor = 0, align = 0;
    for (core::index_t i = 0; i < n; ++i) {
        if (!has_defect(g.masks, i)) continue;
        if (g.valid_regions) oor += out_of_region_rate<float>(one(g.masks, i), one(*g.valid_regions, i));
        if (g.backgrounds) align += mask_alignment<float>(one(g.images, i), one(*g.backgrounds, i), one(g.masks, i));
    }
    if (g.valid_regions) v.out_of_region = oor / static_cast<double>(v.defects);
    if (g.backgrounds) v.mask_alignment = align / static_cast<double>(v.defects);
}

// Everything that compares with the reals.
inline void measure_against_real(const defect_sample_set& g, const defect_sample_set& r, const defect_metric_options& o,
                                 const defect_crop_set& gen_crops, const defect_crop_set& real_crops, defect_metric_values& v) {
    v.real_samples = r.images.size(0);
    v.real_defects = real_crops.images.size(0);
    if (v.defects == 0 || v.real_defects == 0) {
        v.notes.push_back("boundary_transition, crop_swd, diversity: need defects in both sets, found " + std::to_string(v.defects) +
                          " generated and " + std::to_string(v.real_defects) + " real");
        return;
    }
    const boundary_profile pg = boundary_transition_profile(g.images, g.masks, o.boundary_radius);
    const boundary_profile pr = boundary_transition_profile(r.images, r.masks, o.boundary_radius);
    double shared_level = 0;
    for (std::size_t b = 0; b < pr.level.size(); ++b)
        if (pg.samples[b] > 0 && pr.samples[b] > 0) shared_level += pr.level[b];
    if (shared_level > 0)
        v.boundary_transition = boundary_transition_distance(pg, pr);
    else
        v.notes.push_back("boundary_transition: the real images are flat around their defects (no gradient to compare)");
    const core::index_t m = std::min(gen_crops.images.size(0), real_crops.images.size(0));
    const auto first = [&](const core::tensor<float>& t) {
        return core::const_view<float>(t.data(), core::shape{m, t.size(1), t.size(2), t.size(3)});
    };
    // defect_crop_swd's rule (the first min(M_gen, M_real) crops of each), on crops already cut.
    v.crop_swd = sliced_wasserstein_distance(first(gen_crops.images), first(real_crops.images), o.swd).mean;
    if (v.defects >= 2)
        v.diversity = clustered_diversity(gen_crops.images.cview(), real_crops.images.cview(), o.diversity).mean_all;
    else
        v.notes.push_back("diversity: needs two generated defects, found " + std::to_string(v.defects));
}

inline void check_options(const defect_metric_options& o, const std::string& where) {
    IMBDEF_REQUIRE(o.crops.size >= o.swd.min_resolution, where + " options", "a crop size >= SWD's min_resolution (" +
                   std::to_string(o.swd.min_resolution) + ")", "crop size " + std::to_string(o.crops.size));
    IMBDEF_REQUIRE(o.min_class_samples >= 2 && o.boundary_radius >= 1, where + " options", "min_class_samples >= 2 and boundary_radius >= 1",
                   std::to_string(o.min_class_samples) + " and " + std::to_string(o.boundary_radius));
}

inline int class_of(const defect_sample_set& s, core::index_t i) {
    return s.classes.empty() ? 0 : s.classes[static_cast<std::size_t>(i)];
}

// Per class: the rows of each set, and whether there are enough defects for numbers.
template <class Measure>
std::vector<class_defect_metrics> per_class(const defect_sample_set& g, const defect_sample_set* r, const defect_metric_options& o,
                                            Measure&& measure) {
    int classes = static_cast<int>(o.class_names.size());
    for (core::index_t i = 0; i < g.images.size(0); ++i) classes = std::max(classes, class_of(g, i) + 1);
    if (r)
        for (core::index_t i = 0; i < r->images.size(0); ++i) classes = std::max(classes, class_of(*r, i) + 1);
    std::vector<class_defect_metrics> out;
    for (int c = 0; c < classes; ++c) {
        class_defect_metrics e;
        e.class_id = c;
        e.name = static_cast<std::size_t>(c) < o.class_names.size() ? o.class_names[static_cast<std::size_t>(c)] : "class " + std::to_string(c);
        std::vector<core::index_t> gr, rr;
        core::index_t gd = 0, rd = 0;
        for (core::index_t i = 0; i < g.images.size(0); ++i)
            if (class_of(g, i) == c) {
                gr.push_back(i);
                gd += has_defect(g.masks, i) ? 1 : 0;
            }
        if (r)
            for (core::index_t i = 0; i < r->images.size(0); ++i)
                if (class_of(*r, i) == c) {
                    rr.push_back(i);
                    rd += has_defect(r->masks, i) ? 1 : 0;
                }
        e.values.samples = static_cast<core::index_t>(gr.size());
        e.values.defects = gd;
        e.values.real_samples = static_cast<core::index_t>(rr.size());
        e.values.real_defects = rd;
        if (gd < o.min_class_samples || (r && rd < o.min_class_samples)) {
            e.too_small = std::to_string(gd) + " generated" + (r ? " and " + std::to_string(rd) + " real" : std::string()) +
                          " defects; a class's own numbers need at least " + std::to_string(o.min_class_samples) +
                          (r ? " on each side" : "");
        } else {
            const gathered gg = gather(g, gr);
            if (r) {
                const gathered rg = gather(*r, rr);
                e.values = measure(gg.set, &rg.set);
            } else {
                e.values = measure(gg.set, nullptr);
            }
        }
        out.push_back(std::move(e));
    }
    return out;
}

inline void put_optional(nlohmann::json& j, const char* key, const std::optional<double>& v) {
    if (v) j[key] = *v;
}

inline nlohmann::json values_json(const defect_metric_values& v, bool with_reals) {
    nlohmann::json j = {{"samples", v.samples}, {"defects", v.defects}};
    if (with_reals) {
        j["real_samples"] = v.real_samples;
        j["real_defects"] = v.real_defects;
    }
    put_optional(j, "boundary_transition", v.boundary_transition);
    put_optional(j, "crop_swd", v.crop_swd);
    put_optional(j, "diversity", v.diversity);
    put_optional(j, "pairwise_diversity", v.pairwise_diversity);
    put_optional(j, "out_of_region", v.out_of_region);
    put_optional(j, "mask_alignment", v.mask_alignment);
    if (!v.notes.empty()) j["notes"] = v.notes;
    return j;
}

}  // namespace detail

// The metrics of `generated` that need no reals: out_of_region, mask_alignment (when the set has
// valid regions / backgrounds) and pairwise_diversity, overall and per class.
inline defect_metrics measure_defects_reference_free(const defect_sample_set& generated, const defect_metric_options& o = {}) {
    const std::string where = "metrics::measure_defects_reference_free";
    detail::check_options(o, where);
    detail::check_sample_set(generated, where + ": generated");
    const auto measure = [&](const defect_sample_set& g, const defect_sample_set*) {
        defect_metric_values v;
        const defect_crop_set crops = defect_crops(g.images, g.masks, o.crops);
        detail::measure_reference_free(g, o, crops.images, v);
        return v;
    };
    defect_metrics out;
    out.overall = measure(generated, nullptr);
    out.per_class = detail::per_class(generated, nullptr, o, measure);
    return out;
}

// The whole set: generated against real defects. The reals need no backgrounds or valid regions
// (they are ignored); the generated set's decide whether out_of_region and mask_alignment exist.
// Both sets must have the same channel count; their image sizes may differ (crops are resized).
inline defect_metrics measure_defects(const defect_sample_set& generated, const defect_sample_set& real,
                                      const defect_metric_options& o = {}) {
    const std::string where = "metrics::measure_defects";
    detail::check_options(o, where);
    detail::check_sample_set(generated, where + ": generated");
    detail::check_sample_set(real, where + ": real");
    IMBDEF_REQUIRE(generated.images.size(1) == real.images.size(1), where, "generated and real images with one channel count",
                   std::to_string(generated.images.size(1)) + " generated and " + std::to_string(real.images.size(1)) + " real channels");
    const auto measure = [&](const defect_sample_set& g, const defect_sample_set* r) {
        defect_metric_values v;
        const defect_crop_set gc = defect_crops(g.images, g.masks, o.crops);
        const defect_crop_set rc = defect_crops(r->images, r->masks, o.crops);
        detail::measure_reference_free(g, o, gc.images, v);
        detail::measure_against_real(g, *r, o, gc, rc, v);
        return v;
    };
    defect_metrics out;
    out.overall = measure(generated, &real);
    out.per_class = detail::per_class(generated, &real, o, measure);
    return out;
}

// {"samples", "defects", ["real_samples", "real_defects",] the metrics present, ["notes"],
//  "per_class": [{"class", "name", counts, metrics or "too_small"}, ...]}
inline nlohmann::json to_json(const defect_metrics& m) {
    const bool with_reals = m.overall.real_samples > 0;
    nlohmann::json j = detail::values_json(m.overall, with_reals);
    j["per_class"] = nlohmann::json::array();
    for (const auto& c : m.per_class) {
        nlohmann::json e = {{"class", c.class_id}, {"name", c.name}};
        e.update(detail::values_json(c.values, with_reals));
        if (!c.too_small.empty()) e["too_small"] = c.too_small;
        j["per_class"].push_back(std::move(e));
    }
    return j;
}

}  // namespace imbdef::metrics
