#pragma once
// The up- and down-sampling FIR filters of one synthesis layer (reference/stylegan3.md section
// 3.4), designed once from its schedule row. One design serves the layer's features
// (nn::synthesis_layer) and the defect mask that must stay aligned with them
// (models::mask_resampler), so the two can never drift apart.

#include <cmath>
#include <vector>

#include "../core/tensor.hpp"
#include "../ops/fir.hpp"
#include "module.hpp"
#include "synthesis_layer_spec.hpp"

namespace imbdef::nn {

struct synthesis_filters {
    std::vector<double> up, down;  // empty: no filter
    bool down_radial = false;      // down is [k, k] (config R's jinc), else separable [k]

    static synthesis_filters design(const synthesis_layer_spec& spec) {
        const auto taps = [](const core::tensor<double>& t) { return std::vector<double>(t.begin(), t.end()); };
        synthesis_filters f;
        if (spec.up_taps > 1)
            f.up = taps(ops::fir::lowpass<double>(spec.up_taps, spec.in_cutoff, 2 * spec.in_half_width, spec.tmp_sampling_rate));
        if (spec.down_taps > 1) {
            f.down = spec.radial_down_filter
                         ? taps(ops::fir::radial_lowpass<double>(spec.down_taps, spec.out_cutoff, 2 * spec.out_half_width,
                                                                 spec.tmp_sampling_rate))
                         : taps(ops::fir::lowpass<double>(spec.down_taps, spec.out_cutoff, 2 * spec.out_half_width,
                                                          spec.tmp_sampling_rate));
            f.down_radial = spec.radial_down_filter;
        }
        return f;
    }

    // The filters as tensors of T, the form the filtered leaky ReLU takes (empty: no filter).
    template <class T>
    void load(core::tensor<T>& fu, core::tensor<T>& fd) const {
        const auto fill = [](core::tensor<T>& t, const std::vector<double>& f, bool radial) {
            if (f.empty()) {
                t = core::tensor<T>();
                return;
            }
            const auto k = radial ? static_cast<core::index_t>(std::lround(std::sqrt(static_cast<double>(f.size()))))
                                  : static_cast<core::index_t>(f.size());
            ensure_shape(t, radial ? core::shape{k, k} : core::shape{k});
            for (std::size_t i = 0; i < f.size(); ++i) t[static_cast<core::index_t>(i)] = static_cast<T>(f[i]);
        };
        fill(fu, up, false);
        fill(fd, down, down_radial);
    }
};

}  // namespace imbdef::nn
