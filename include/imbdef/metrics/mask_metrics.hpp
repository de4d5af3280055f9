#pragma once
// Direct measures of two of the failure modes METHOD.md targets, computed on generated samples:
//   out_of_region_rate  defect-mask pixels outside the valid region, as a fraction of all
//                       defect-mask pixels (0 is perfect);
//   mask_alignment      a = mean |defect image - matching background| inside the defect mask,
//                       b = the same mean outside it; a / (a + b): the share of the image change
//                       that the mask explains, in [0, 1] (1: every change is under the mask;
//                       0.5: the mask tells nothing; 0 when nothing changed at all). A bounded
//                       share rather than the ratio a / b, because a method that changes nothing
//                       outside the mask (copy-paste, an output composite) makes b exactly 0.
// Images are [N, C, H, W]; masks [N, 1, H, W] with a pixel set when its value is > 0 (a logit or a
// {0, 1} / {-1, 1} mask alike).

#include <cmath>
#include <string>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace imbdef::metrics {

namespace detail {
inline void require_mask_for(const core::shape& mask, const core::shape& image, const std::string& where,
                             const std::string& what) {
    IMBDEF_REQUIRE(image.rank() == 4 && mask.rank() == 4 && mask[0] == image[0] && mask[1] == 1 &&
                       mask[2] == image[2] && mask[3] == image[3],
                   where, what + " of shape [" + std::to_string(image[0]) + ", 1, " + std::to_string(image[2]) + ", " +
                              std::to_string(image[3]) + "]",
                   "shape " + mask.to_string() + " for images of shape " + image.to_string());
}
}  // namespace detail

template <class T>
double out_of_region_rate(core::const_view<T> defect_mask, core::const_view<T> valid_region) {
    core::require_same_shape(valid_region.shape(), defect_mask.shape(), "metrics::out_of_region_rate: valid region vs defect mask");
    double inside = 0, outside = 0;
    for (core::index_t i = 0; i < defect_mask.numel(); ++i)
        if (defect_mask[i] > T(0)) (valid_region[i] > T(0) ? inside : outside) += 1;
    return inside + outside > 0 ? outside / (inside + outside) : 0.0;
}

template <class T>
double mask_alignment(core::const_view<T> defect_image, core::const_view<T> background, core::const_view<T> defect_mask) {
    core::require_same_shape(background.shape(), defect_image.shape(), "metrics::mask_alignment: background vs defect image");
    detail::require_mask_for(defect_mask.shape(), defect_image.shape(), "metrics::mask_alignment", "a defect mask");
    const core::index_t n = defect_image.size(0), c = defect_image.size(1), hw = defect_image.size(2) * defect_image.size(3);
    double sum_in = 0, sum_out = 0, count_in = 0, count_out = 0;
    for (core::index_t s = 0; s < n; ++s)
        for (core::index_t ch = 0; ch < c; ++ch)
            for (core::index_t i = 0; i < hw; ++i) {
                const core::index_t k = (s * c + ch) * hw + i;
                const double d = std::abs(static_cast<double>(defect_image[k]) - static_cast<double>(background[k]));
                if (defect_mask[s * hw + i] > T(0)) {
                    sum_in += d;
                    count_in += 1;
                } else {
                    sum_out += d;
                    count_out += 1;
                }
            }
    const double mean_in = count_in ? sum_in / count_in : 0.0, mean_out = count_out ? sum_out / count_out : 0.0;
    return mean_in + mean_out > 0 ? mean_in / (mean_in + mean_out) : 0.0;
}

}  // namespace imbdef::metrics
