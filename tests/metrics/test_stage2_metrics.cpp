// The stage-2 metrics: distance transform, boundary transition, MS-SSIM, clustered diversity,
// defect crops and KID, on synthetic cases with known answers or known orderings.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <imbdef/core/parallel.hpp>
#include <imbdef/core/random.hpp>
#include <imbdef/metrics/boundary_transition.hpp>
#include <imbdef/metrics/defect_crops.hpp>
#include <imbdef/metrics/distance_transform.hpp>
#include <imbdef/metrics/diversity.hpp>
#include <imbdef/metrics/kid.hpp>
#include <imbdef/metrics/ms_ssim.hpp>
#include <imbdef/metrics/pyramid_features.hpp>

using namespace imbdef;

namespace {

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

// Runs fn with 1 thread and with 3, restoring the count after.
template <class Fn>
void with_threads(int n, Fn fn) {
    const int before = core::num_threads();
    core::set_num_threads(n);
    fn();
    core::set_num_threads(before);
}

// Discs (random centres and radii) over a faint noise texture: the defect is brighter than the
// background, with a hard step at the disc's edge (`width` 0) or a tanh transition of that width.
struct defect_set {
    core::tensor<float> images, masks;
};
defect_set discs(std::uint64_t seed, float width, core::index_t n = 6, core::index_t size = 32, core::index_t channels = 1) {
    defect_set s{core::tensor<float>({n, channels, size, size}), core::tensor<float>({n, 1, size, size})};
    const core::philox_stream rng{.seed = seed};
    for (core::index_t i = 0; i < n; ++i) {
        const float cx = 10 + 12 * rng.uniform(static_cast<std::uint64_t>(3 * i));
        const float cy = 10 + 12 * rng.uniform(static_cast<std::uint64_t>(3 * i + 1));
        const float r = 4 + 4 * rng.uniform(static_cast<std::uint64_t>(3 * i + 2));
        for (core::index_t y = 0; y < size; ++y)
            for (core::index_t x = 0; x < size; ++x) {
                const float fx = static_cast<float>(x) - cx, fy = static_cast<float>(y) - cy;
                const float inside = r - std::sqrt(fx * fx + fy * fy);
                s.masks(i, 0, y, x) = inside > 0 ? 1.0f : 0.0f;
                const float step = width > 0 ? std::tanh(inside / width) : (inside > 0 ? 1.0f : -1.0f);
                for (core::index_t c = 0; c < channels; ++c) {
                    const float noise = 0.05f * rng.normal(1000 + static_cast<std::uint64_t>(((i * channels + c) * size + y) * size + x));
                    s.images(i, c, y, x) = 0.6f * step + noise;
                }
            }
    }
    return s;
}

core::tensor<float> noisy(const core::tensor<float>& x, float sigma, std::uint64_t seed) {
    core::tensor<float> y = x.clone();
    core::tensor<float> z(x.shape());
    core::fill_normal(z.view(), core::philox_stream{.seed = seed});
    for (core::index_t i = 0; i < y.numel(); ++i) y[i] = std::clamp(y[i] + sigma * z[i], -1.0f, 1.0f);
    return y;
}

}  // namespace

TEST_CASE("distance transform: exact against brute force, infinite without set pixels") {
    const core::philox_stream rng{.seed = 7};
    for (int trial = 0; trial < 6; ++trial) {
        const core::index_t h = 3 + trial * 3, w = 17 - trial * 2;
        core::tensor<float> m({2, 1, h, w});
        for (core::index_t i = 0; i < m.numel(); ++i)
            m[i] = rng.uniform(static_cast<std::uint64_t>(trial * 1000 + i)) < 0.15f ? 1.0f : 0.0f;
        const auto d2 = metrics::squared_distance_transform(m.cview());
        const auto sd = metrics::signed_distance(m.cview());
        for (core::index_t s = 0; s < 2; ++s)
            for (core::index_t y = 0; y < h; ++y)
                for (core::index_t x = 0; x < w; ++x) {
                    double to_set = std::numeric_limits<double>::infinity(), to_unset = to_set;
                    for (core::index_t yy = 0; yy < h; ++yy)
                        for (core::index_t xx = 0; xx < w; ++xx) {
                            const double d = static_cast<double>((y - yy) * (y - yy) + (x - xx) * (x - xx));
                            (m(s, 0, yy, xx) > 0 ? to_set : to_unset) = std::min(m(s, 0, yy, xx) > 0 ? to_set : to_unset, d);
                        }
                    CHECK(d2(s, 0, y, x) == static_cast<float>(to_set));
                    const double expect = m(s, 0, y, x) > 0 ? std::sqrt(to_unset) : -std::sqrt(to_set);
                    CHECK(sd(s, 0, y, x) == static_cast<float>(expect));
                }
    }
    core::tensor<float> empty({1, 1, 3, 4}, 0.0f);
    const auto d2 = metrics::squared_distance_transform(empty.cview());
    CHECK(std::isinf(d2[5]));
    // A single pixel: the squared distances are the integers x^2 + y^2.
    core::tensor<float> dot({1, 1, 3, 3}, 0.0f);
    dot(0, 0, 0, 0) = 1;
    const auto one = metrics::squared_distance_transform(dot.cview());
    CHECK(one(0, 0, 2, 2) == 8.0f);
    CHECK(one(0, 0, 1, 2) == 5.0f);
    core::tensor<float> bad({1, 2, 3, 3});
    CHECK_THROWS_WITH_AS(metrics::signed_distance(bad.cview()), doctest::Contains("[N, 1, H, W], found shape [1, 2, 3, 3]"),
                         imbdef::error);
}

TEST_CASE("boundary transition: a pasted step is far from smooth transitions, a smooth one is near") {
    const auto hard = discs(1, 0), smooth = discs(2, 2.5f), smooth_too = discs(3, 2.5f);
    const auto ph = metrics::boundary_transition_profile(hard.images.cview(), hard.masks.cview());
    const auto ps = metrics::boundary_transition_profile(smooth.images.cview(), smooth.masks.cview());
    REQUIRE(ph.level.size() == 8);
    // The step is concentrated in the two rows that meet at the boundary...
    CHECK(ph.at(1) > 1.5 * ps.at(1));
    CHECK(ph.at(-1) > 1.5 * ps.at(-1));
    // ...and absent two pixels away, where the smooth transition still has slope.
    CHECK(ph.at(3) < 0.5 * ps.at(3));
    CHECK(ph.at(-3) < 0.5 * ps.at(-3));
    CHECK(ph.samples[0] == 6);
    const auto pt = metrics::boundary_transition_profile(smooth_too.images.cview(), smooth_too.masks.cview());
    const double pasted = metrics::boundary_transition_distance(ph, pt);
    const double natural = metrics::boundary_transition_distance(ps, pt);
    MESSAGE("boundary transition: pasted " << pasted << ", natural " << natural);
    CHECK(pasted > 0.4);
    CHECK(natural < 0.15);
    CHECK(pasted > 4 * natural);
    CHECK(metrics::boundary_transition_distance(pt, pt) == 0.0);
    CHECK(metrics::boundary_transition(hard.images.cview(), hard.masks.cview(), smooth_too.images.cview(),
                                       smooth_too.masks.cview()) == pasted);

    const auto p2 = metrics::boundary_transition_profile(hard.images.cview(), hard.masks.cview(), 2);
    CHECK_THROWS_WITH_AS(metrics::boundary_transition_distance(p2, pt), doctest::Contains("radii 2 and 4"), imbdef::error);
    CHECK_THROWS_AS((void)ph.at(0), imbdef::error);
    core::tensor<float> bad_mask({6, 1, 32, 31});
    CHECK_THROWS_WITH_AS(metrics::boundary_transition_profile(hard.images.cview(), bad_mask.cview()),
                         doctest::Contains("masks of shape [6, 1, 32, 32]"), imbdef::error);
}

TEST_CASE("MS-SSIM: identity, symmetry, monotone in noise, the luminance term on constant images") {
    const auto base = discs(4, 2.0f, 2, 48, 3).images;
    const auto self = metrics::ms_ssim(base.cview(), base.cview());
    CHECK(self[0] == 1.0);
    CHECK(self[1] == 1.0);
    const auto a = noisy(base, 0.1f, 5), b = noisy(base, 0.3f, 6), c = noisy(base, 0.8f, 7);
    const auto ab = metrics::ms_ssim(base.cview(), a.cview()), ba = metrics::ms_ssim(a.cview(), base.cview());
    CHECK(same_bits(ab, ba));
    const auto sb = metrics::ms_ssim(base.cview(), b.cview()), sc = metrics::ms_ssim(base.cview(), c.cview());
    for (int i = 0; i < 2; ++i) {
        CHECK(ab[static_cast<std::size_t>(i)] < 1.0);
        CHECK(sb[static_cast<std::size_t>(i)] < ab[static_cast<std::size_t>(i)]);
        CHECK(sc[static_cast<std::size_t>(i)] < sb[static_cast<std::size_t>(i)]);
    }
    // Constant images: every cs term is 1, so MS-SSIM is the luminance (2ab + C1) / (a^2 + b^2 + C1),
    // C1 = 0.02^2, to the last weight; 40 x 40 has 2 scales, weights 0.0448 and 0.2856 renormalised.
    core::tensor<float> x({1, 1, 40, 40}, 0.5f), y({1, 1, 40, 40}, 0.25f);
    const double luminance = (0.25 + 4e-4) / (0.3125 + 4e-4), weight = 0.2856 / (0.0448 + 0.2856);
    CHECK(metrics::ms_ssim(x.cview(), y.cview())[0] == doctest::Approx(std::pow(luminance, weight)).epsilon(1e-12));
    CHECK(metrics::ms_ssim_scales(176, 200) == 5);
    CHECK(metrics::ms_ssim_scales(175, 200) == 4);
    CHECK(metrics::ms_ssim_scales(64, 64) == 3);
    CHECK(metrics::ms_ssim_scales(11, 11) == 1);
    core::tensor<float> tiny({1, 1, 10, 12});
    CHECK_THROWS_WITH_AS(metrics::ms_ssim(tiny.cview(), tiny.cview()), doctest::Contains("found 10 x 12"), imbdef::error);
    CHECK_THROWS_WITH_AS(metrics::ms_ssim(x.cview(), tiny.cview()), doctest::Contains("[1, 1, 40, 40] and [1, 1, 10, 12]"),
                         imbdef::error);
}

TEST_CASE("clustered diversity: 0 for identical samples, growing with variety") {
    const auto real = discs(10, 2.0f, 3, 32).images;
    // Eight copies of one image: a single cluster of distance 0.
    core::tensor<float> same({8, 1, 32, 32});
    for (core::index_t i = 0; i < same.numel(); ++i) same[i] = real[i % (32 * 32)];
    const auto none = metrics::clustered_diversity(same.cview(), real.cview());
    CHECK(none.mean_all == 0.0);
    CHECK(none.mean_scored == 0.0);
    CHECK(none.cluster_size[0] == 8);
    CHECK(none.assignment[3] == 0);

    core::tensor<float> few({8, 1, 32, 32}), many({8, 1, 32, 32});
    const auto varied = discs(11, 2.0f, 8, 32).images;
    for (core::index_t i = 0; i < few.numel(); ++i) {
        few[i] = real[i % (32 * 32)];
        many[i] = varied[i];
    }
    const auto few_noisy = noisy(few, 0.05f, 12);
    const auto low = metrics::clustered_diversity(few_noisy.cview(), real.cview());
    const auto high = metrics::clustered_diversity(many.cview(), real.cview());
    MESSAGE("diversity: near-copies " << low.mean_all << " / " << low.mean_scored << ", varied " << high.mean_all << " / "
                                      << high.mean_scored);
    CHECK(low.mean_scored > 0);
    CHECK(high.mean_scored > 2 * low.mean_scored);
    CHECK(high.mean_all <= high.mean_scored);

    metrics::diversity_options capped;
    capped.cluster_cap = 3;
    CHECK(metrics::clustered_diversity(same.cview(), real.cview(), capped).cluster_size[0] == 3);
    core::tensor<float> other({2, 3, 32, 32});
    CHECK_THROWS_WITH_AS(metrics::clustered_diversity(other.cview(), real.cview()),
                         doctest::Contains("[2, 3, 32, 32] and [3, 1, 32, 32]"), imbdef::error);
}

TEST_CASE("defect crops: the padded box, moved inside the image, resized; SWD on crops") {
    core::tensor<float> images({3, 1, 32, 32}, -1.0f), masks({3, 1, 32, 32}, 0.0f);
    for (core::index_t y = 10; y < 14; ++y)  // sample 0: a 4 x 4 square at (10, 10)
        for (core::index_t x = 10; x < 14; ++x) {
            masks(0, 0, y, x) = 1;
            images(0, 0, y, x) = 1;
        }
    for (core::index_t y = 0; y < 2; ++y)  // sample 2: a 2 x 3 patch in the corner
        for (core::index_t x = 0; x < 3; ++x) masks(2, 0, y, x) = 1;
    metrics::crop_options o;
    o.size = 16;
    o.padding = 2.0;
    const auto crops = metrics::defect_crops(images.cview(), masks.cview(), o);
    REQUIRE(crops.source == std::vector<core::index_t>{0, 2});  // sample 1 has no defect
    CHECK(crops.images.shape() == core::shape{2, 1, 16, 16});
    // Window 8 x 8 from (8, 8): the square covers rows and columns 2..5 of it, 4..11 after resizing.
    CHECK(crops.images(0, 0, 7, 7) == doctest::Approx(1.0f));
    CHECK(crops.images(0, 0, 0, 0) == doctest::Approx(-1.0f));  // beyond the bicubic's reach of the square
    CHECK(crops.masks(0, 0, 4, 4) == 1.0f);
    CHECK(crops.masks(0, 0, 3, 4) == 0.0f);
    CHECK(crops.masks(0, 0, 11, 11) == 1.0f);
    CHECK(crops.masks(0, 0, 12, 11) == 0.0f);
    // Corner patch: the 8 x 8 window (min_side) is moved to (0, 0) rather than cut.
    CHECK(crops.masks(1, 0, 0, 0) == 1.0f);
    CHECK(crops.masks(1, 0, 3, 5) == 1.0f);
    CHECK(crops.masks(1, 0, 4, 5) == 0.0f);

    const auto a = discs(20, 2.0f, 8, 32), b = discs(21, 2.0f, 8, 32), h = discs(22, 0.0f, 8, 32);
    metrics::swd_options so;
    so.directions = 64;
    so.repeats = 1;
    so.patches_per_image = 32;
    metrics::crop_options co;
    co.size = 32;
    const auto near = metrics::defect_crop_swd(a.images.cview(), a.masks.cview(), b.images.cview(), b.masks.cview(), co, so);
    const auto far = metrics::defect_crop_swd(h.images.cview(), h.masks.cview(), b.images.cview(), b.masks.cview(), co, so);
    MESSAGE("crop SWD: smooth vs smooth " << near.mean << ", hard vs smooth " << far.mean);
    CHECK(far.mean > near.mean);
    core::tensor<float> no_defect({2, 1, 32, 32}, 0.0f);
    CHECK_THROWS_WITH_AS(metrics::defect_crop_swd(a.images.cview(), a.masks.cview(), a.images.cview().slice(0).reshaped({1, 1, 32, 32}),
                                                  no_defect.cview().slice(0).reshaped({1, 1, 32, 32}), co, so),
                         doctest::Contains("8 generated and 0 real crops"), imbdef::error);
}

TEST_CASE("KID: the reference formula, about 0 for one distribution, positive for shifted sets") {
    // Two rows each: the one subset is the whole set, so the formula can be written out here.
    core::tensor<float> r({2, 2}, {0.5f, -1.0f, 1.0f, 0.25f}), g({2, 2}, {0.0f, 1.0f, -0.5f, 2.0f});
    const auto k = [](const core::tensor<float>& p, int i, const core::tensor<float>& q, int j) {
        const double dot = static_cast<double>(p(i, 0)) * q(j, 0) + static_cast<double>(p(i, 1)) * q(j, 1);
        return std::pow(dot / 2 + 1, 3);
    };
    const double t = (2 * k(g, 0, g, 1) + 2 * k(r, 0, r, 1)) / 1.0 -
                     2 * (k(g, 0, r, 0) + k(g, 0, r, 1) + k(g, 1, r, 0) + k(g, 1, r, 1)) / 2.0;
    metrics::kid_options one;
    one.subsets = 1;
    CHECK(metrics::kid_from_features(r.cview(), g.cview(), one).value == doctest::Approx(t / 2).epsilon(1e-12));

    core::tensor<float> x({300, 16}), y({200, 16}), shifted({200, 16});
    core::fill_normal(x.view(), core::philox_stream{.seed = 1});
    core::fill_normal(y.view(), core::philox_stream{.seed = 2});
    for (core::index_t i = 0; i < y.numel(); ++i) shifted[i] = y[i] + 0.5f;
    metrics::kid_options o;
    o.subsets = 20;
    o.max_subset_size = 150;
    const auto same = metrics::kid_from_features(x.cview(), y.cview(), o);
    const auto diff = metrics::kid_from_features(x.cview(), shifted.cview(), o);
    MESSAGE("KID: same " << same.value << ", shifted " << diff.value);
    CHECK(same.subset_size == 150);
    CHECK(std::abs(same.value) < 0.1 * diff.value);
    CHECK(diff.value > 0);
    CHECK(same_bits(metrics::kid_from_features(x.cview(), y.cview(), o).per_subset, same.per_subset));
    CHECK_THROWS_WITH_AS(metrics::kid_from_features(x.cview(), core::tensor<float>({5, 3}).cview(), o),
                         doctest::Contains("[300, 16] and [5, 3]"), imbdef::error);
    CHECK_THROWS_AS(metrics::kid_from_features(x.cview(), core::tensor<float>({1, 16}).cview(), o), imbdef::error);
}

TEST_CASE("KID through the pyramid feature extractor") {
    static_assert(metrics::feature_extractor<metrics::pyramid_features>);
    const metrics::pyramid_features extract;
    const auto a = discs(30, 2.0f, 24, 32), b = discs(31, 2.0f, 24, 32), s = discs(32, 0.0f, 24, 32);
    const auto fa = extract(a.images.cview());
    CHECK(fa.shape() == core::shape{24, 256});
    metrics::kid_options o;
    o.subsets = 10;
    const double same = metrics::kid(extract, a.images.cview(), b.images.cview(), o).value;
    core::tensor<float> stripes({24, 1, 32, 32});
    for (core::index_t i = 0; i < stripes.numel(); ++i) stripes[i] = std::sin(0.9f * static_cast<float>(i % 32) + static_cast<float>(i / 1024));
    const double other = metrics::kid(extract, a.images.cview(), stripes.cview(), o).value;
    MESSAGE("pyramid KID: same " << same << ", stripes " << other);
    CHECK(other > 10 * std::abs(same));
    core::tensor<float> small({2, 1, 8, 8});
    CHECK_THROWS_WITH_AS(extract(small.cview()), doctest::Contains("H, W >= 16"), imbdef::error);
}

TEST_CASE("stage-2 metrics give the same bits with 1 and 3 threads") {
    const auto a = discs(40, 2.0f, 6, 32, 3), b = discs(41, 0.0f, 6, 32, 3);
    const auto run = [&] {
        std::vector<double> out;
        const auto p = metrics::boundary_transition_profile(a.images.cview(), a.masks.cview());
        out.insert(out.end(), p.level.begin(), p.level.end());
        const auto sd = metrics::signed_distance(a.masks.cview());
        for (core::index_t i = 0; i < sd.numel(); ++i) out.push_back(sd[i]);
        const auto m = metrics::ms_ssim(a.images.cview(), b.images.cview());
        out.insert(out.end(), m.begin(), m.end());
        const auto d = metrics::clustered_diversity(a.images.cview(), b.images.cview());
        out.push_back(d.mean_all);
        out.push_back(d.mean_scored);
        const metrics::pyramid_features extract;
        const auto f = extract(a.images.cview());
        for (core::index_t i = 0; i < f.numel(); ++i) out.push_back(f[i]);
        metrics::kid_options o;
        o.subsets = 8;
        const auto k = metrics::kid(extract, a.images.cview(), b.images.cview(), o);
        out.insert(out.end(), k.per_subset.begin(), k.per_subset.end());
        const auto c = metrics::defect_crops(a.images.cview(), a.masks.cview());
        for (core::index_t i = 0; i < c.images.numel(); ++i) out.push_back(c.images[i]);
        return out;
    };
    std::vector<double> one, three;
    with_threads(1, [&] { one = run(); });
    with_threads(3, [&] { three = run(); });
    CHECK(same_bits(one, three));
}
