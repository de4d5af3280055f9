#pragma once
// Sliced Wasserstein distance on Laplacian-pyramid patches (Karras et al., "Progressive growing of
// GANs", 2018): a realism metric that needs no pretrained network.
//
// For each image set, build a Laplacian pyramid (5-tap binomial [1 4 6 4 1]/16 blur, factor 2)
// down to `min_resolution`; from every level draw `patches_per_image` random 7x7 patches per image,
// each patch a descriptor of 49 * C numbers; normalise the descriptors of each level and set per
// channel (zero mean, unit deviation). For each level, project both sets onto `directions` random
// unit vectors (`repeats` times), sort the projections and average |difference|: the 1-D
// Wasserstein distance per direction, averaged. Reported per level (finest first) and as the mean
// over levels, times 1000 as is customary. Deterministic from the seed (patches and directions
// come from Philox), whatever the thread count. Both sets must have the same image shape.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "../core/eigen.hpp"
#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/philox.hpp"
#include "../core/random.hpp"
#include "../core/tensor.hpp"
#include "../ops/upfirdn2d.hpp"

namespace imbdef::metrics {

struct swd_options {
    int min_resolution = 16;
    int patch_size = 7;
    int patches_per_image = 128;
    int directions = 512;
    int repeats = 4;
    std::uint64_t seed = 0x5d5d;
};

struct swd_result {
    std::vector<double> per_level;  // finest level first
    double mean = 0;
};

namespace detail {

// One level of the pyramid of every image in `x` [N, C, H, W]: x - up(down(x)), and down(x).
inline void laplacian_step(core::const_view<float> x, core::tensor<float>& band, core::tensor<float>& coarser) {
    static const core::tensor<float> taps({5}, {1 / 16.f, 4 / 16.f, 6 / 16.f, 4 / 16.f, 1 / 16.f});
    const auto down = ops::upfirdn2d_params::uniform(1, 2, 2, 1, 2, 1);
    const auto up = ops::upfirdn2d_params::uniform(2, 1, 2, 2, 2, 2, 4.0);
    coarser = core::tensor<float>(ops::upfirdn2d_output_shape(x.shape(), taps.shape(), down), core::uninitialized);
    ops::upfirdn2d<float>(x, taps.cview(), coarser.view(), down);
    band = core::tensor<float>(x.shape(), core::uninitialized);
    ops::upfirdn2d<float>(coarser.cview(), taps.cview(), band.view(), up);
    for (core::index_t i = 0; i < band.numel(); ++i) band[i] = x[i] - band[i];
}

// Random patches of one level as rows of a descriptor matrix, normalised per channel.
inline core::eigen_matrix<float> descriptors(core::const_view<float> level, const swd_options& o, std::uint64_t stream) {
    const core::index_t n = level.size(0), c = level.size(1), h = level.size(2), w = level.size(3);
    const int p = o.patch_size;
    const core::index_t rows = n * o.patches_per_image, cols = c * p * p;
    core::eigen_matrix<float> d(rows, cols);
    const core::philox_stream rng{.seed = o.seed, .stream = stream};
    for (core::index_t r = 0; r < rows; ++r) {
        const core::index_t img = r / o.patches_per_image;
        const auto y0 = static_cast<core::index_t>(rng.bits(2 * static_cast<std::uint64_t>(r)) % static_cast<std::uint32_t>(h - p + 1));
        const auto x0 = static_cast<core::index_t>(rng.bits(2 * static_cast<std::uint64_t>(r) + 1) % static_cast<std::uint32_t>(w - p + 1));
        core::index_t k = 0;
        for (core::index_t ch = 0; ch < c; ++ch)
            for (int dy = 0; dy < p; ++dy)
                for (int dx = 0; dx < p; ++dx) d(r, k++) = level(img, ch, y0 + dy, x0 + dx);
    }
    for (core::index_t ch = 0; ch < c; ++ch) {
        auto block = d.middleCols(ch * p * p, p * p);
        const double mean = block.cast<double>().mean();
        const double var = (block.cast<double>().array() - mean).square().mean();
        const float inv = static_cast<float>(1.0 / std::sqrt(var + 1e-12));
        block = ((block.array() - static_cast<float>(mean)) * inv).matrix();
    }
    return d;
}

inline double sliced_wasserstein(const core::eigen_matrix<float>& a, const core::eigen_matrix<float>& b,
                                 const swd_options& o, std::uint64_t stream) {
    const core::index_t dim = a.cols();
    double total = 0;
    for (int rep = 0; rep < o.repeats; ++rep) {
        core::tensor<float> dirs({dim, o.directions});
        core::fill_normal(dirs.view(), core::philox_stream{.seed = o.seed ^ 0xd1ec7u, .stream = stream * 64 + static_cast<std::uint64_t>(rep)});
        auto dm = core::as_matrix(dirs.view());
        dm.array().rowwise() /= dm.colwise().norm().array();
        const core::eigen_matrix<float> pa = a * dm, pb = b * dm;
        std::vector<double> per_dir(static_cast<std::size_t>(o.directions));
        core::parallel_for(0, o.directions, 8, [&](core::index_t lo, core::index_t hi) {
            std::vector<float> va(static_cast<std::size_t>(pa.rows())), vb(static_cast<std::size_t>(pb.rows()));
            for (core::index_t j = lo; j < hi; ++j) {
                for (core::index_t i = 0; i < pa.rows(); ++i) va[static_cast<std::size_t>(i)] = pa(i, j);
                for (core::index_t i = 0; i < pb.rows(); ++i) vb[static_cast<std::size_t>(i)] = pb(i, j);
                std::sort(va.begin(), va.end());
                std::sort(vb.begin(), vb.end());
                double s = 0;
                for (std::size_t i = 0; i < va.size(); ++i) s += std::abs(static_cast<double>(va[i]) - vb[i]);
                per_dir[static_cast<std::size_t>(j)] = s / static_cast<double>(va.size());
            }
        });
        for (double v : per_dir) total += v;
    }
    return total / (o.repeats * o.directions);
}

}  // namespace detail

// SWD x 1000 between two sets of images [N, C, H, W] (values in [-1, 1] by convention).
inline swd_result sliced_wasserstein_distance(core::const_view<float> a, core::const_view<float> b,
                                              const swd_options& o = {}) {
    IMBDEF_REQUIRE(a.rank() == 4 && b.rank() == 4 && a.size(1) == b.size(1) && a.size(2) == b.size(2) &&
                       a.size(3) == b.size(3) && a.size(0) == b.size(0),
                   "metrics::sliced_wasserstein_distance", "two image sets of one shape [N, C, H, W]",
                   a.shape().to_string() + " and " + b.shape().to_string());
    IMBDEF_REQUIRE(a.size(2) >= o.min_resolution && a.size(3) >= o.min_resolution && o.min_resolution >= o.patch_size,
                   "metrics::sliced_wasserstein_distance",
                   "images of at least min_resolution " + std::to_string(o.min_resolution) + " >= patch size " +
                       std::to_string(o.patch_size),
                   a.shape().to_string());
    swd_result result;
    core::tensor<float> cur_a = core::to_tensor(a), cur_b = core::to_tensor(b), band_a, band_b, next_a, next_b;
    for (std::uint64_t level = 0;; ++level) {
        const bool last = cur_a.size(2) / 2 < o.min_resolution || cur_a.size(3) / 2 < o.min_resolution;
        if (!last) {
            detail::laplacian_step(cur_a.cview(), band_a, next_a);
            detail::laplacian_step(cur_b.cview(), band_b, next_b);
        }
        const auto& la = last ? cur_a : band_a;
        const auto& lb = last ? cur_b : band_b;
        const auto da = detail::descriptors(la.cview(), o, 2 * level);
        const auto db = detail::descriptors(lb.cview(), o, 2 * level + 1);
        result.per_level.push_back(1000.0 * detail::sliced_wasserstein(da, db, o, level));
        if (last) break;
        cur_a = std::move(next_a);
        cur_b = std::move(next_b);
    }
    for (double v : result.per_level) result.mean += v;
    result.mean /= static_cast<double>(result.per_level.size());
    return result;
}

}  // namespace imbdef::metrics
