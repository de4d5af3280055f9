#pragma once
// pyramid_features: a feature-free feature extractor for KID (kid.hpp). It is NOT Inception:
// KID computed on these features is not comparable with published KID values; use it to compare
// runs of imbdef with each other, and plug in a real network where one is available.
//
// For images [N, C, H, W]: the Laplacian pyramid of swd.hpp (5-tap binomial, factor 2) with
// `levels` band-pass levels and the remaining low-pass image; the absolute value of each band (its
// local energy: a signed band averages to about 0 over any region) and the low-pass image are each
// resized to grid x grid (ops::resize, area averaging when shrinking), giving
// (levels + 1) * C * grid^2 numbers per image; a fixed Gaussian random projection (Philox, `seed`,
// entries N(0, 1 / input size)) maps them to `dimension` features. The projection depends only on
// the seed and the input size, so two sets of one image shape get the same map; the features are
// deterministic whatever the thread count. Images need min(H, W) >= 2^(levels + 1).

#include <cmath>
#include <cstdint>
#include <string>

#include <Eigen/Core>

#include "../core/eigen.hpp"
#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../core/tensor.hpp"
#include "../ops/resize.hpp"
#include "swd.hpp"

namespace imbdef::metrics {

struct pyramid_features_options {
    int levels = 3;
    core::index_t grid = 8;
    core::index_t dimension = 256;
    std::uint64_t seed = 0x9f3a;
};

class pyramid_features {
public:
    explicit pyramid_features(const pyramid_features_options& o = {}) : options_(o) {
        IMBDEF_REQUIRE(o.levels >= 0 && o.levels <= 12 && o.grid >= 1 && o.dimension >= 1, "metrics::pyramid_features",
                       "levels in [0, 12], grid >= 1 and dimension >= 1",
                       "levels " + std::to_string(o.levels) + ", grid " + std::to_string(o.grid) + ", dimension " +
                           std::to_string(o.dimension));
    }

    core::index_t dimension() const noexcept { return options_.dimension; }

    // Features [N, dimension] of images [N, C, H, W].
    core::tensor<float> operator()(core::const_view<float> images) const {
        constexpr const char* where = "metrics::pyramid_features";
        const core::index_t min_side = core::index_t{2} << options_.levels;
        IMBDEF_REQUIRE(images.rank() == 4 && images.size(2) >= min_side && images.size(3) >= min_side, where,
                       "images [N, C, H, W] with H, W >= " + std::to_string(min_side) + " for " +
                           std::to_string(options_.levels) + " levels",
                       "shape " + images.shape().to_string());
        const core::index_t n = images.size(0), c = images.size(1), g = options_.grid;
        const core::index_t per_level = c * g * g, inputs = (options_.levels + 1) * per_level;
        core::eigen_matrix<float> raw(n, inputs);
        core::tensor<float> current = core::to_tensor(images), band, coarser;
        core::tensor<float> pooled({n, c, g, g}, core::uninitialized);
        const auto take = [&](int level) {
            for (core::index_t s = 0; s < n; ++s)
                for (core::index_t k = 0; k < per_level; ++k) raw(s, level * per_level + k) = pooled[s * per_level + k];
        };
        for (int level = 0; level < options_.levels; ++level) {
            detail::laplacian_step(current.cview(), band, coarser);
            for (core::index_t i = 0; i < band.numel(); ++i) band[i] = std::abs(band[i]);
            ops::resize<float>(band.cview(), pooled.view());
            take(level);
            current = std::move(coarser);
        }
        ops::resize<float>(current.cview(), pooled.view());
        take(options_.levels);

        core::tensor<float> projection({inputs, options_.dimension}, core::uninitialized);
        core::fill_normal(projection.view(), core::philox_stream{.seed = options_.seed, .stream = static_cast<std::uint64_t>(inputs)},
                          0, 0.0f, static_cast<float>(1.0 / std::sqrt(static_cast<double>(inputs))));
        core::tensor<float> features({n, options_.dimension}, core::uninitialized);
        core::as_matrix(features.view()) = raw * core::as_matrix(projection.view());
        return features;
    }

private:
    pyramid_features_options options_;
};

}  // namespace imbdef::metrics
