// The stage-2 metric set in one call (metrics/defect_metrics.hpp): a set against itself scores as a
// perfect copy, a degraded set scores worse, absent inputs give absent metrics with a reason,
// small classes get no numbers of their own, and bad shapes are named.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <imbdef/core/random.hpp>
#include <imbdef/metrics/defect_metrics.hpp>

using namespace imbdef;

namespace {

// Discs (random centres and radii) over a faint noise texture, brighter than their background,
// with a tanh transition of `width` pixels (0: a hard step). `backgrounds` is the same texture
// without the disc; the valid region is the left `valid_cols` columns.
struct disc_set {
    core::tensor<float> images, masks, backgrounds, valid;
    std::vector<int> classes;
};
disc_set discs(std::uint64_t seed, float width, core::index_t n = 12, core::index_t size = 32, core::index_t valid_cols = 32,
               int num_classes = 1) {
    disc_set s{core::tensor<float>({n, 1, size, size}), core::tensor<float>({n, 1, size, size}),
               core::tensor<float>({n, 1, size, size}), core::tensor<float>({n, 1, size, size}), {}};
    const core::philox_stream rng{.seed = seed};
    for (core::index_t i = 0; i < n; ++i) {
        s.classes.push_back(static_cast<int>(i % num_classes));
        const float cx = 10 + 12 * rng.uniform(static_cast<std::uint64_t>(3 * i));
        const float cy = 10 + 12 * rng.uniform(static_cast<std::uint64_t>(3 * i + 1));
        const float r = 4 + 4 * rng.uniform(static_cast<std::uint64_t>(3 * i + 2));
        for (core::index_t y = 0; y < size; ++y)
            for (core::index_t x = 0; x < size; ++x) {
                const float fx = static_cast<float>(x) - cx, fy = static_cast<float>(y) - cy;
                const float inside = r - std::sqrt(fx * fx + fy * fy);
                s.masks(i, 0, y, x) = inside > 0 ? 1.0f : 0.0f;
                s.valid(i, 0, y, x) = x < valid_cols ? 1.0f : 0.0f;
                const float step = width > 0 ? std::tanh(inside / width) : (inside > 0 ? 1.0f : -1.0f);
                const float noise = 0.05f * rng.normal(1000 + static_cast<std::uint64_t>((i * size + y) * size + x));
                s.backgrounds(i, 0, y, x) = -0.6f + noise;
                s.images(i, 0, y, x) = 0.6f * step + noise;
            }
    }
    return s;
}

metrics::defect_sample_set full(const disc_set& s) {
    return {.images = s.images.cview(), .masks = s.masks.cview(), .classes = s.classes,
            .backgrounds = s.backgrounds.cview(), .valid_regions = s.valid.cview()};
}
metrics::defect_sample_set bare(const disc_set& s) {
    return {.images = s.images.cview(), .masks = s.masks.cview(), .classes = s.classes};
}

// Small crops and a light SWD keep the test fast; the metrics are the same functions.
metrics::defect_metric_options fast() {
    metrics::defect_metric_options o;
    o.crops.size = 32;
    o.swd.patches_per_image = 32;
    o.swd.directions = 64;
    o.swd.repeats = 1;
    return o;
}

// The image shifted by (dy, dx) with replicated edges; the mask stays: a misaligned set.
core::tensor<float> shifted(const core::tensor<float>& x, core::index_t dy, core::index_t dx) {
    core::tensor<float> y(x.shape());
    const core::index_t n = x.size(0), h = x.size(2), w = x.size(3);
    for (core::index_t i = 0; i < n; ++i)
        for (core::index_t r = 0; r < h; ++r)
            for (core::index_t c = 0; c < w; ++c)
                y(i, 0, r, c) = x(i, 0, std::clamp(r - dy, core::index_t{0}, h - 1), std::clamp(c - dx, core::index_t{0}, w - 1));
    return y;
}

}  // namespace

TEST_CASE("defect metrics: a set against itself scores as a copy") {
    const disc_set real = discs(1, 1.5f);
    const auto m = metrics::measure_defects(bare(real), bare(real), fast());
    REQUIRE(m.overall.boundary_transition);
    REQUIRE(m.overall.crop_swd);
    REQUIRE(m.overall.diversity);
    REQUIRE(m.overall.pairwise_diversity);
    CHECK(*m.overall.boundary_transition == 0.0);
    // SWD draws other patches from each set, so a set against itself scores its sampling noise
    // (not 0); the same set shifted off its masks scores far above that.
    disc_set moved = discs(1, 1.5f);
    moved.images = shifted(moved.images, 4, 4);
    const auto off = metrics::measure_defects(bare(moved), bare(real), fast());
    CHECK(*m.overall.crop_swd < 0.5 * *off.overall.crop_swd);
    // Each sample's nearest real is itself: clusters of one, the score of a copying generator.
    CHECK(*m.overall.diversity == 0.0);
    CHECK(*m.overall.pairwise_diversity > 0.05);
    CHECK(m.overall.samples == 12);
    CHECK(m.overall.defects == 12);
    CHECK(m.overall.real_defects == 12);
    // Without backgrounds or valid regions those two metrics are absent, and the notes say why.
    CHECK(!m.overall.out_of_region);
    CHECK(!m.overall.mask_alignment);
    const auto notes = nlohmann::json(m.overall.notes).dump();
    CHECK(notes.find("out_of_region: no valid regions given") != std::string::npos);
    CHECK(notes.find("mask_alignment: no backgrounds given") != std::string::npos);
}

TEST_CASE("defect metrics: shifted, blurred and pasted sets score worse than the reals themselves") {
    const disc_set real = discs(1, 1.5f);
    const disc_set other = discs(2, 1.5f);  // the same distribution, other samples
    const disc_set pasted = discs(2, 0.0f);  // hard steps at the mask
    disc_set moved = discs(2, 1.5f);
    moved.images = shifted(moved.images, 4, 4);
    const disc_set blurred = discs(2, 6.0f);  // transitions spread far past the mask

    const auto o = fast();
    const auto same = metrics::measure_defects(bare(other), bare(real), o).overall;
    for (const disc_set* worse : {&pasted, static_cast<const disc_set*>(&moved), &blurred}) {
        const auto w = metrics::measure_defects(bare(*worse), bare(real), o).overall;
        CHECK(*w.boundary_transition > 2 * *same.boundary_transition);
        CHECK(*w.crop_swd > 1.4 * *same.crop_swd);
    }
    CHECK(*same.boundary_transition < 0.15);
    CHECK(*same.diversity > 0.0);
}

TEST_CASE("defect metrics: mean out-of-region rate and mask alignment per sample") {
    // Valid region: the left 16 columns. The expected rate is counted here, sample by sample.
    const disc_set g = discs(3, 1.5f, 8, 32, 16);
    double expected = 0;
    for (core::index_t i = 0; i < 8; ++i) {
        double in = 0, out = 0;
        for (core::index_t y = 0; y < 32; ++y)
            for (core::index_t x = 0; x < 32; ++x)
                if (g.masks(i, 0, y, x) > 0) (x < 16 ? in : out) += 1;
        expected += out / (in + out) / 8;
    }
    const auto m = metrics::measure_defects_reference_free(full(g), fast());
    REQUIRE(m.overall.out_of_region);
    CHECK(*m.overall.out_of_region == doctest::Approx(expected).epsilon(1e-12));
    CHECK(*m.overall.out_of_region > 0.1);
    REQUIRE(m.overall.mask_alignment);
    // The mean of mask_alignment over samples (each defect weighs the same), not the batch's pooled value.
    double per_sample = 0;
    for (core::index_t i = 0; i < 8; ++i) {
        const core::shape image{1, 1, 32, 32};
        per_sample += metrics::mask_alignment<float>(core::const_view<float>(g.images.data() + i * 1024, image),
                                                     core::const_view<float>(g.backgrounds.data() + i * 1024, image),
                                                     core::const_view<float>(g.masks.data() + i * 1024, image)) / 8;
    }
    CHECK(*m.overall.mask_alignment == doctest::Approx(per_sample).epsilon(1e-12));
    CHECK(*m.overall.mask_alignment != doctest::Approx(metrics::mask_alignment<float>(g.images.cview(), g.backgrounds.cview(), g.masks.cview())).epsilon(1e-6));

    // The same images with masks moved away from the discs: alignment drops.
    disc_set off = discs(3, 1.5f, 8, 32, 16);
    off.masks = shifted(off.masks, 8, 8);
    const auto worse = metrics::measure_defects_reference_free(full(off), fast());
    CHECK(*worse.overall.mask_alignment < *m.overall.mask_alignment - 0.2);

    // Reference-free: no comparison metrics, and to_json says nothing of reals.
    CHECK(!m.overall.boundary_transition);
    CHECK(!m.overall.crop_swd);
    CHECK(!m.overall.diversity);
    const auto j = metrics::to_json(m);
    CHECK(!j.contains("real_samples"));
    CHECK(j.contains("pairwise_diversity"));
    CHECK(j["out_of_region"].get<double>() == *m.overall.out_of_region);
}

TEST_CASE("defect metrics: per class when the class is large enough, a reason when it is not") {
    // 14 samples over 3 classes (5, 5, 4 of each): class 2 is below min_class_samples = 5.
    const disc_set g = discs(4, 1.5f, 14, 32, 32, 3);
    const disc_set r = discs(5, 1.5f, 15, 32, 32, 3);
    auto o = fast();
    o.class_names = {"crack", "hole", "stain"};
    const auto m = metrics::measure_defects(full(g), bare(r), o);
    REQUIRE(m.per_class.size() == 3);
    CHECK(m.per_class[0].name == "crack");
    CHECK(m.per_class[0].too_small.empty());
    CHECK(m.per_class[0].values.samples == 5);
    CHECK(m.per_class[0].values.real_samples == 5);
    CHECK(m.per_class[0].values.boundary_transition);
    CHECK(m.per_class[0].values.crop_swd);
    CHECK(m.per_class[0].values.mask_alignment);
    CHECK(m.per_class[2].too_small == "4 generated and 5 real defects; a class's own numbers need at least 5 on each side");
    CHECK(m.per_class[2].values.defects == 4);
    CHECK(!m.per_class[2].values.crop_swd);
    CHECK(!m.per_class[2].values.out_of_region);
    const auto j = metrics::to_json(m);
    CHECK(j["per_class"][2]["name"] == "stain");
    CHECK(j["per_class"][2].contains("too_small"));
    CHECK(!j["per_class"][2].contains("crop_swd"));
    CHECK(j["per_class"][1].contains("crop_swd"));
    CHECK(j["real_defects"] == 15);
    // A class named but present on neither side is listed, with its counts at 0.
    o.class_names.push_back("fray");
    CHECK(metrics::measure_defects(full(g), bare(r), o).per_class[3].too_small.rfind("0 generated and 0 real", 0) == 0);
}

TEST_CASE("defect metrics: a generator without defects yet gives absent metrics, not an error") {
    disc_set g = discs(6, 1.5f, 6);
    std::fill(g.masks.begin(), g.masks.end(), 0.0f);
    const disc_set r = discs(7, 1.5f);
    const auto m = metrics::measure_defects(full(g), bare(r), fast());
    CHECK(m.overall.defects == 0);
    CHECK(!m.overall.boundary_transition);
    CHECK(!m.overall.crop_swd);
    CHECK(!m.overall.diversity);
    CHECK(!m.overall.out_of_region);
    CHECK(!m.overall.mask_alignment);
    CHECK(nlohmann::json(m.overall.notes).dump().find("need defects in both sets, found 0 generated and 12 real") != std::string::npos);
}

TEST_CASE("defect metrics: bad shapes and options are named") {
    const disc_set g = discs(8, 1.5f, 4);
    const core::tensor<float> masks3({3, 1, 32, 32}), rgb({4, 3, 32, 32}), wide_valid({4, 1, 32, 30});
    auto s = bare(g);
    s.masks = masks3.cview();
    CHECK_THROWS_WITH_AS(metrics::measure_defects(s, bare(g), fast()),
                         doctest::Contains("metrics::measure_defects: generated: expected masks of shape [4, 1, 32, 32], found shape [3, 1, 32, 32]"),
                         imbdef::error);
    CHECK_THROWS_WITH_AS(metrics::measure_defects(bare(g), s, fast()), doctest::Contains("measure_defects: real: expected masks"),
                         imbdef::error);
    auto b = full(g);
    b.backgrounds = rgb.cview();
    CHECK_THROWS_WITH_AS(metrics::measure_defects_reference_free(b, fast()), doctest::Contains("generated backgrounds"), imbdef::error);
    auto v = full(g);
    v.valid_regions = wide_valid.cview();
    CHECK_THROWS_WITH_AS(metrics::measure_defects_reference_free(v, fast()), doctest::Contains("valid regions of shape [4, 1, 32, 32]"),
                         imbdef::error);
    const std::vector<int> three{0, 1, 2}, negative{0, -1, 0, 0};
    auto c = bare(g);
    c.classes = three;
    CHECK_THROWS_WITH_AS(metrics::measure_defects(c, bare(g), fast()), doctest::Contains("generated classes: expected none or one class id per sample (4)"),
                         imbdef::error);
    c.classes = negative;
    CHECK_THROWS_WITH_AS(metrics::measure_defects(bare(g), c, fast()), doctest::Contains("-1 for sample 1"), imbdef::error);
    const disc_set colour{rgb.clone(), g.masks.clone(), rgb.clone(), g.valid.clone(), {}};
    CHECK_THROWS_WITH_AS(metrics::measure_defects(bare(colour), bare(g), fast()), doctest::Contains("3 generated and 1 real channels"),
                         imbdef::error);
    auto o = fast();
    o.crops.size = 8;
    CHECK_THROWS_WITH_AS(metrics::measure_defects(bare(g), bare(g), o), doctest::Contains("crop size >= SWD's min_resolution (16)"),
                         imbdef::error);
}
