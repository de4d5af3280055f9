#pragma once
// normalize_2nd_moment (reference section 1: the mapping network's input normalisation), per
// sample over its F features:
//   r  = (mean_i x_i^2 + eps)^(-1/2),     y_i = x_i r
//   dx_k = r dy_k - (r^3 / F) x_k sum_i dy_i x_i
// Generator-only, so it has no tangent rules.

#include <cmath>
#include <string_view>

#include "../../core/macros.hpp"
#include "../../core/shape.hpp"

namespace imbdef::ops {

struct normalize_2nd_moment_params {
    double epsilon = 1e-8;
};

struct normalize_2nd_moment_op {
    static constexpr std::string_view name = "ops::normalize_2nd_moment";

    // r for one sample's features x[0, f).
    template <class T>
    IMBDEF_HD static T inverse_rms(const T* x, core::index_t f, T epsilon) noexcept {
        T sq = T(0);
        for (core::index_t i = 0; i < f; ++i) sq += x[i] * x[i];
        return T(1) / std::sqrt(sq / static_cast<T>(f) + epsilon);
    }

    // The coefficient c = (r^3 / F) sum_i dy_i x_i of one sample, so that dx_k = r dy_k - c x_k.
    template <class T>
    IMBDEF_HD static T backward_coefficient(const T* x, const T* dy, core::index_t f, T r) noexcept {
        T dot = T(0);
        for (core::index_t i = 0; i < f; ++i) dot += dy[i] * x[i];
        return r * r * r * dot / static_cast<T>(f);
    }
};

}  // namespace imbdef::ops
