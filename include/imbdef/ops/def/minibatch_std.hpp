#pragma once
// Minibatch standard deviation (StyleGAN2's discriminator epilogue, reference section 4).
//
// x [N, C, H, W] is split into G = min(group_size, N) groups of rows taken with stride M = N / G:
// sample n = g * M + j is member g of group j. The C channels form F blocks of Cf = C / F
// consecutive channels. For group j, block f and every position p = (c', h, w) of the block
//   mu_p  = (1/G) sum_g x_g,p,   d_g,p = x_g,p - mu_p,   sd_p = sqrt((1/G) sum_g d_g,p^2 + eps)
// and the statistic is s[j, f] = (1/K) sum_p sd_p with K = Cf * H * W. The output is x with F
// extra channels: y[n, C + f, h, w] = s[n mod M, f].
//
// First derivative (sum_g d_g,p = 0 removes the mean's term):
//   ds/dx_g,p = d_g,p / (K G sd_p)
// Tangents along x_dot (the op is genuinely non-linear, so R1 needs its second derivative):
//   sd_dot_p = (1/(G sd_p)) sum_g d_g,p x_dot_g,p,      s_dot = (1/K) sum_p sd_dot_p
//   dx       = dy_x + ds d / (K G sd)
//   dx_dot   = dy_dot_x + ds_dot d / (K G sd) + ds / (K G) (d_dot / sd - d sd_dot / sd^2)
// with ds[j, f] = sum over the group's members and (h, w) of dy[:, C + f], ds_dot likewise from
// dy_dot, and d_dot = x_dot - mean_g x_dot.

#include <cmath>
#include <string_view>

#include "../../core/macros.hpp"
#include "../../core/shape.hpp"

namespace imbdef::ops {

struct minibatch_std_params {
    core::index_t group_size = 4;    // G before the min with N (mbstd_group_size)
    core::index_t num_channels = 1;  // F (mbstd_num_channels); must divide C
    double epsilon = 1e-8;
};

struct minibatch_std_op {
    static constexpr std::string_view name = "ops::minibatch_std";

    // Mean and standard deviation of the G values v[0], v[stride], ..., v[(G - 1) stride],
    // two-pass so that the deviations are exact to rounding.
    template <class T>
    IMBDEF_HD static void moments(const T* v, core::index_t stride, core::index_t groups, T epsilon, T& mean,
                                  T& sd) noexcept {
        T sum = T(0);
        for (core::index_t g = 0; g < groups; ++g) sum += v[g * stride];
        mean = sum / static_cast<T>(groups);
        T sq = T(0);
        for (core::index_t g = 0; g < groups; ++g) {
            const T d = v[g * stride] - mean;
            sq += d * d;
        }
        sd = std::sqrt(sq / static_cast<T>(groups) + epsilon);
    }

    // sd_dot: the directional derivative of sd along the tangents t (same stride), given mean and sd.
    template <class T>
    IMBDEF_HD static T sd_tangent(const T* v, const T* t, core::index_t stride, core::index_t groups, T mean,
                                  T sd) noexcept {
        T acc = T(0);
        for (core::index_t g = 0; g < groups; ++g) acc += (v[g * stride] - mean) * t[g * stride];
        return acc / (static_cast<T>(groups) * sd);
    }

    // dx_dot of one member: d = x - mu, d_dot = x_dot - mean_g x_dot, with the position's
    // reciprocals inv_sd = 1 / sd and inv_kg_sd = 1 / (K G sd).
    template <class T>
    IMBDEF_HD static T dx_tangent(T dy_dot, T d, T d_dot, T inv_sd, T sd_dot, T ds, T ds_dot, T inv_kg_sd) noexcept {
        return dy_dot + (ds_dot * d + ds * (d_dot - d * sd_dot * inv_sd)) * inv_kg_sd;
    }
};

}  // namespace imbdef::ops
