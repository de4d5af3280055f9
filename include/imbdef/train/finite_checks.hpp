#pragma once
// The checks of the non-finite guard (non_finite.hpp) that every trainer runs at the same points:
// a real batch before it is used, each loss, each network's gradients before its optimiser step.
// Each throws train::non_finite_error naming what was bad and the step.

#include <cmath>
#include <cstdint>
#include <string>

#include "../core/tensor.hpp"
#include "../nn/parameters.hpp"
#include "non_finite.hpp"

namespace imbdef::train {

// A batch [N, ...]: names the first sample with a non-finite element.
inline void require_finite_batch(const core::tensor<float>& t, const std::string& what, std::int64_t step) {
    const core::index_t per = t.numel() / t.size(0);
    for (core::index_t i = 0; i < t.numel(); ++i)
        if (!std::isfinite(t[i])) throw non_finite_error(what + " of this batch (sample " + std::to_string(i / per) + ")", step, t[i]);
}

inline void require_finite(double v, const std::string& what, std::int64_t step) {
    if (!std::isfinite(v)) throw non_finite_error(what, step, v);
}

// A network's gradients (flat storage of its trained parameters): names the tensor and element.
inline void require_finite_gradients(const nn::parameter_layout& layout, core::const_view<float> flat, const std::string& net,
                                     std::int64_t step) {
    if (auto bad = first_non_finite(layout, nn::tensor_role::parameter, flat))
        throw non_finite_error(net + " gradient '" + bad->name + "' (element " + std::to_string(bad->element) + ")", step,
                               bad->value);
}

}  // namespace imbdef::train
