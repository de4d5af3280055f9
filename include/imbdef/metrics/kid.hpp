#pragma once
// Kernel inception distance (Binkowski et al., "Demystifying MMD GANs", 2018) on the features of a
// pluggable extractor, computed exactly as reference/dfmgan.md section 5.11 describes:
//
//   m = min(n_real, n_generated, max_subset_size); for each of `subsets` subsets, x = m generated
//   rows and y = m real rows chosen without replacement, d the feature dimension,
//     a = (x x^T / d + 1)^3 + (y y^T / d + 1)^3,  b = (x y^T / d + 1)^3  (powers element-wise),
//     t_s = (sum(a) - trace(a)) / (m - 1) - 2 sum(b) / m,
//   KID = sum_s t_s / subsets / m,
// the unbiased estimate of the squared MMD under the cubic polynomial kernel: near 0 for two
// samples of one distribution, and it can be slightly negative. DFMGAN reports KID x 1000.
//
// Subsets: subset s takes the first m entries of a Philox-driven Fisher-Yates shuffle of the
// generated rows (stream 2s) and of the real rows (stream 2s + 1) under `seed`, so the choice is
// reproducible and independent of the thread count. Subsets run in parallel, each in double with
// Eigen on one thread, and are summed in order.
//
// The number is only as meaningful as the features. Published KID uses Inception-v3 pool3
// features; an imbdef::metrics::feature_extractor is anything that maps images [N, C, H, W] to
// features [N, d], such as the feature-free pyramid_features (pyramid_features.hpp), whose values
// are NOT comparable with published KID.

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "../core/eigen.hpp"
#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/philox.hpp"
#include "../core/tensor.hpp"

namespace imbdef::metrics {

template <class E>
concept feature_extractor = requires(const E& e, core::const_view<float> images) {
    { e(images) } -> std::same_as<core::tensor<float>>;
};

struct kid_options {
    int subsets = 100;
    core::index_t max_subset_size = 1000;
    std::uint64_t seed = 0x1d5eed;
};

struct kid_result {
    double value = 0;                // KID (not scaled by 1000)
    core::index_t subset_size = 0;   // m
    std::vector<double> per_subset;  // t_s / m: their mean is `value`, their spread its uncertainty
};

namespace detail {

// The first m entries of a shuffle of 0 .. n-1 drawn from `rng`.
inline std::vector<core::index_t> philox_choice(core::index_t n, core::index_t m, const core::philox_stream& rng) {
    std::vector<core::index_t> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), core::index_t{0});
    for (core::index_t i = 0; i < m; ++i) {
        const std::uint64_t r = (static_cast<std::uint64_t>(rng.bits(2 * static_cast<std::uint64_t>(i))) << 32) |
                                rng.bits(2 * static_cast<std::uint64_t>(i) + 1);
        const auto j = i + static_cast<core::index_t>(r % static_cast<std::uint64_t>(n - i));
        std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
    }
    order.resize(static_cast<std::size_t>(m));
    return order;
}

inline core::eigen_matrix<double> gather_rows(core::const_view<float> features, const std::vector<core::index_t>& rows) {
    const core::index_t d = features.size(1);
    core::eigen_matrix<double> out(static_cast<Eigen::Index>(rows.size()), d);
    for (std::size_t r = 0; r < rows.size(); ++r)
        for (core::index_t k = 0; k < d; ++k) out(static_cast<Eigen::Index>(r), k) = features[rows[r] * d + k];
    return out;
}

}  // namespace detail

inline kid_result kid_from_features(core::const_view<float> real, core::const_view<float> generated,
                                    const kid_options& o = {}) {
    constexpr const char* where = "metrics::kid_from_features";
    IMBDEF_REQUIRE(real.rank() == 2 && generated.rank() == 2 && real.size(1) == generated.size(1) && real.size(1) >= 1,
                   where, "two feature matrices [n, d] of one dimension d >= 1",
                   real.shape().to_string() + " and " + generated.shape().to_string());
    const core::index_t m = std::min({real.size(0), generated.size(0), o.max_subset_size});
    IMBDEF_REQUIRE(m >= 2 && o.subsets >= 1, where, "at least 2 rows in each set (and max_subset_size >= 2) and subsets >= 1",
                   std::to_string(real.size(0)) + " real rows, " + std::to_string(generated.size(0)) +
                       " generated rows, max_subset_size " + std::to_string(o.max_subset_size) + ", subsets " +
                       std::to_string(o.subsets));
    const double d = static_cast<double>(real.size(1)), md = static_cast<double>(m);
    kid_result out{.value = 0, .subset_size = m, .per_subset = std::vector<double>(static_cast<std::size_t>(o.subsets))};
    core::parallel_for(0, o.subsets, 1, [&](core::index_t lo, core::index_t hi) {
        for (core::index_t s = lo; s < hi; ++s) {
            const auto stream = 2 * static_cast<std::uint64_t>(s);
            const auto x = detail::gather_rows(
                generated, detail::philox_choice(generated.size(0), m, core::philox_stream{.seed = o.seed, .stream = stream}));
            const auto y = detail::gather_rows(
                real, detail::philox_choice(real.size(0), m, core::philox_stream{.seed = o.seed, .stream = stream + 1}));
            const auto cubic = [d](const core::eigen_matrix<double>& g) { return (g.array() / d + 1.0).cube().matrix().eval(); };
            const core::eigen_matrix<double> a = cubic(x * x.transpose()) + cubic(y * y.transpose());
            const core::eigen_matrix<double> b = cubic(x * y.transpose());
            const double t = (a.sum() - a.trace()) / (md - 1) - 2 * b.sum() / md;
            out.per_subset[static_cast<std::size_t>(s)] = t / md;
        }
    });
    for (double t : out.per_subset) out.value += t;
    out.value /= static_cast<double>(o.subsets);
    return out;
}

// KID between two image sets through `extract` (real first, as in kid_from_features).
template <feature_extractor E>
kid_result kid(const E& extract, core::const_view<float> real_images, core::const_view<float> generated_images,
               const kid_options& o = {}) {
    const core::tensor<float> fr = extract(real_images), fg = extract(generated_images);
    return kid_from_features(fr.cview(), fg.cview(), o);
}

}  // namespace imbdef::metrics
