#pragma once
// Clustered diversity of generated defects, in the spirit of DFMGAN's clustered LPIPS
// (reference/dfmgan.md, section 5.11) but feature-free: the distance is d(x, y) = 1 - MS-SSIM(x, y)
// (ms_ssim.hpp) instead of LPIPS.
//
//   1. Each generated image goes to the cluster of its nearest real image by d (ties: the lower
//      real index).
//   2. A cluster keeps at most `cluster_cap` members, the first ones in generated order.
//   3. A cluster with at least two members scores the mean of d over its pairs (d is symmetric, so
//      ordered and unordered pairs give the same mean); a smaller one scores 0.
//   4. mean_all = the mean score over all real images' clusters (DFMGAN's clpips); mean_scored =
//      the mean over the clusters with at least two members (0 when there is none). DFMGAN's
//      clpips_rz drops clusters whose score is 0, which differs only for a cluster of identical
//      images: that one is a collapse and stays counted here.
// A generator that copies its training defects puts every sample near one real image with tiny
// distances inside the cluster: both means go to 0. To measure the defects rather than the
// backgrounds, pass defect crops (defect_crops.hpp).
// Deterministic: every distance is computed serially and the sums are taken in a fixed order.

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"
#include "ms_ssim.hpp"

namespace imbdef::metrics {

struct diversity_options {
    core::index_t cluster_cap = 200;
    ms_ssim_options ms_ssim;
};

struct diversity_result {
    double mean_all = 0;
    double mean_scored = 0;
    std::vector<core::index_t> assignment;     // the real image of each generated one
    std::vector<core::index_t> cluster_size;   // members kept, per real image
    std::vector<double> cluster_score;         // per real image
};

inline diversity_result clustered_diversity(core::const_view<float> generated, core::const_view<float> real,
                                            const diversity_options& o = {}) {
    constexpr const char* where = "metrics::clustered_diversity";
    IMBDEF_REQUIRE(generated.rank() == 4 && real.rank() == 4 && generated.size(1) == real.size(1) &&
                       generated.size(2) == real.size(2) && generated.size(3) == real.size(3),
                   where, "two image sets [N, C, H, W] of one image shape",
                   generated.shape().to_string() + " and " + real.shape().to_string());
    IMBDEF_REQUIRE(real.size(0) >= 1 && o.cluster_cap >= 2, where, "at least one real image and cluster_cap >= 2",
                   std::to_string(real.size(0)) + " real images, cluster_cap " + std::to_string(o.cluster_cap));
    const ms_ssim_set g(generated, o.ms_ssim), r(real, o.ms_ssim);
    const core::index_t ng = g.size(), nr = r.size();

    diversity_result out;
    out.assignment.assign(static_cast<std::size_t>(ng), 0);
    core::parallel_for(0, ng, 1, [&](core::index_t lo, core::index_t hi) {
        for (core::index_t i = lo; i < hi; ++i) {
            core::index_t best = 0;
            double best_d = 0;
            for (core::index_t j = 0; j < nr; ++j) {
                const double d = 1.0 - g.between(i, r, j);
                if (j == 0 || d < best_d) {
                    best = j;
                    best_d = d;
                }
            }
            out.assignment[static_cast<std::size_t>(i)] = best;
        }
    });

    std::vector<std::vector<core::index_t>> members(static_cast<std::size_t>(nr));
    for (core::index_t i = 0; i < ng; ++i) {
        auto& m = members[static_cast<std::size_t>(out.assignment[static_cast<std::size_t>(i)])];
        if (static_cast<core::index_t>(m.size()) < o.cluster_cap) m.push_back(i);
    }
    std::vector<std::pair<core::index_t, core::index_t>> pairs;
    std::vector<std::size_t> first_pair(static_cast<std::size_t>(nr) + 1, 0);
    for (std::size_t k = 0; k < members.size(); ++k) {
        first_pair[k] = pairs.size();
        for (std::size_t a = 0; a < members[k].size(); ++a)
            for (std::size_t b = a + 1; b < members[k].size(); ++b) pairs.emplace_back(members[k][a], members[k][b]);
    }
    first_pair[members.size()] = pairs.size();
    std::vector<double> distance(pairs.size());
    core::parallel_for(0, static_cast<core::index_t>(pairs.size()), 4, [&](core::index_t lo, core::index_t hi) {
        for (core::index_t p = lo; p < hi; ++p) {
            const auto [a, b] = pairs[static_cast<std::size_t>(p)];
            distance[static_cast<std::size_t>(p)] = 1.0 - g.between(a, g, b);
        }
    });

    core::index_t scored = 0;
    for (std::size_t k = 0; k < members.size(); ++k) {
        out.cluster_size.push_back(static_cast<core::index_t>(members[k].size()));
        double score = 0;
        if (members[k].size() >= 2) {
            for (std::size_t p = first_pair[k]; p < first_pair[k + 1]; ++p) score += distance[p];
            score /= static_cast<double>(first_pair[k + 1] - first_pair[k]);
            out.mean_scored += score;
            ++scored;
        }
        out.cluster_score.push_back(score);
        out.mean_all += score;
    }
    out.mean_all /= static_cast<double>(nr);
    if (scored > 0) out.mean_scored /= static_cast<double>(scored);
    return out;
}

}  // namespace imbdef::metrics
