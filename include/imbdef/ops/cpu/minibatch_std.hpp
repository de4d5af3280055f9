#pragma once
// The CPU backend of ops::minibatch_std. Arguments are checked by the front end
// (ops/minibatch_std.hpp); the rules are those of def/minibatch_std.hpp.
//
// The work splits into M * F independent units (group j, channel block f), each covering K
// positions of G members. A unit's members lie at x[(g M + j) C HW + f K + q] for q in [0, K).

#include <algorithm>
#include <cstring>

#include "../../core/grad_mode.hpp"
#include "../../core/parallel.hpp"
#include "../../core/scratch.hpp"
#include "../../core/tensor.hpp"
#include "../backend.hpp"
#include "../def/minibatch_std.hpp"

namespace imbdef::ops {

namespace detail {

// The geometry of one call, from x [N, C, H, W] and (G, F).
struct minibatch_std_layout {
    core::index_t n, c, hw, groups, members_stride, m, f, k;

    minibatch_std_layout(const core::shape& x, core::index_t g, core::index_t blocks)
        : n(x[0]), c(x[1]), hw(x[2] * x[3]), groups(g), members_stride(0), m(x[0] / g), f(blocks), k(0) {
        members_stride = m * c * hw;
        k = (c / f) * hw;
    }
    core::index_t units() const noexcept { return m * f; }
    // Offset in x of the unit's first position (member 0).
    core::index_t base(core::index_t unit) const noexcept { return (unit / f) * c * hw + (unit % f) * k; }
    core::index_t x_sample() const noexcept { return c * hw; }
    core::index_t y_sample() const noexcept { return (c + f) * hw; }
};

// Units per parallel chunk so that a chunk covers at least ~2^15 elements: smaller work is faster
// on one thread than the dispatch costs.
inline core::index_t minibatch_std_grain(const minibatch_std_layout& l) {
    const core::index_t per_unit = std::max<core::index_t>(1, l.k * l.groups);
    return std::max<core::index_t>(1, (core::index_t{1} << 15) / per_unit);
}

// s[unit] = (1/K) sum_q sd_q, and (when x_dot is given) s_dot[unit] = (1/K) sum_q sd_dot_q.
template <class T>
void minibatch_std_statistics(const minibatch_std_layout& l, const T* x, const T* x_dot, T epsilon, T* s,
                              T* s_dot) {
    core::parallel_for(0, l.units(), minibatch_std_grain(l), [&](core::index_t lo, core::index_t hi) {
        for (core::index_t u = lo; u < hi; ++u) {
            const T* xu = x + l.base(u);
            T acc = T(0);
            T acc_dot = T(0);
            for (core::index_t q = 0; q < l.k; ++q) {
                T mean, sd;
                minibatch_std_op::moments(xu + q, l.members_stride, l.groups, epsilon, mean, sd);
                acc += sd;
                if (x_dot)
                    acc_dot += minibatch_std_op::sd_tangent(xu + q, x_dot + l.base(u) + q, l.members_stride, l.groups,
                                                            mean, sd);
            }
            s[u] = acc / static_cast<T>(l.k);
            if (x_dot) s_dot[u] = acc_dot / static_cast<T>(l.k);
        }
    });
}

// y[n, :C] = x[n] and y[n, C + f] = s[(n mod M) F + f]: the output of forward or its tangent.
template <class T>
void minibatch_std_concat(const minibatch_std_layout& l, const T* x, const T* s, T* y) {
    const core::index_t grain = std::max<core::index_t>(1, (core::index_t{1} << 15) / l.y_sample());
    core::parallel_for(0, l.n, grain, [&](core::index_t lo, core::index_t hi) {
        for (core::index_t n = lo; n < hi; ++n) {
            T* yn = y + n * l.y_sample();
            std::memcpy(yn, x + n * l.x_sample(), static_cast<std::size_t>(l.x_sample()) * sizeof(T));
            const T* sn = s + (n % l.m) * l.f;
            for (core::index_t f = 0; f < l.f; ++f) std::fill_n(yn + l.x_sample() + f * l.hw, l.hw, sn[f]);
        }
    });
}

// ds[unit] = sum over the unit's members n and (h, w) of dy[n, C + f, h, w].
template <class T>
void minibatch_std_statistic_gradient(const minibatch_std_layout& l, const T* dy, T* ds) {
    for (core::index_t u = 0; u < l.units(); ++u) {
        const core::index_t j = u / l.f, f = u % l.f;
        T acc = T(0);
        for (core::index_t g = 0; g < l.groups; ++g) {
            const T* row = dy + (g * l.m + j) * l.y_sample() + l.x_sample() + f * l.hw;
            for (core::index_t i = 0; i < l.hw; ++i) acc += row[i];
        }
        ds[u] = acc;
    }
}

}  // namespace detail

template <>
struct backend<minibatch_std_op, core::cpu> {
    template <class T>
    static void forward(core::const_view<T, core::cpu> x, core::view<T, core::cpu> y, core::index_t groups,
                        core::index_t blocks, T epsilon) {
        const detail::minibatch_std_layout l(x.shape(), groups, blocks);
        core::scratch_scope scratch;
        T* s = scratch.allocate<T>(core::shape{l.units()}).data();
        detail::minibatch_std_statistics<T>(l, x.data(), nullptr, epsilon, s, nullptr);
        detail::minibatch_std_concat(l, x.data(), s, y.data());
    }

    template <class T>
    static void forward_tangent(core::const_view<T, core::cpu> x, core::const_view<T, core::cpu> x_dot,
                                core::view<T, core::cpu> y_dot, core::index_t groups, core::index_t blocks,
                                T epsilon) {
        const detail::minibatch_std_layout l(x.shape(), groups, blocks);
        core::scratch_scope scratch;
        T* s = scratch.allocate<T>(core::shape{l.units()}).data();
        T* s_dot = scratch.allocate<T>(core::shape{l.units()}).data();
        detail::minibatch_std_statistics<T>(l, x.data(), x_dot.data(), epsilon, s, s_dot);
        detail::minibatch_std_concat(l, x_dot.data(), s_dot, y_dot.data());
    }

    template <class T>
    static void backward(core::const_view<T, core::cpu> x, core::const_view<T, core::cpu> dy,
                         core::view<T, core::cpu> dx, core::grad_mode mode, core::index_t groups,
                         core::index_t blocks, T epsilon) {
        const detail::minibatch_std_layout l(x.shape(), groups, blocks);
        core::scratch_scope scratch;
        T* ds = scratch.allocate<T>(core::shape{l.units()}).data();
        detail::minibatch_std_statistic_gradient(l, dy.data(), ds);
        const T kg = static_cast<T>(l.k * l.groups);
        const T* xs = x.data();
        const T* dys = dy.data();
        T* dxs = dx.data();
        core::parallel_for(0, l.units(), detail::minibatch_std_grain(l), [&](core::index_t lo, core::index_t hi) {
            for (core::index_t u = lo; u < hi; ++u) {
                const core::index_t b = l.base(u);
                const core::index_t j = u / l.f;
                for (core::index_t q = 0; q < l.k; ++q) {
                    T mean, sd;
                    minibatch_std_op::moments(xs + b + q, l.members_stride, l.groups, epsilon, mean, sd);
                    const T coef = ds[u] / (kg * sd);
                    for (core::index_t g = 0; g < l.groups; ++g) {
                        const core::index_t i = b + g * l.members_stride + q;
                        const core::index_t n = g * l.m + j;
                        const T dyx = dys[i + n * (l.y_sample() - l.x_sample())];
                        core::store_grad(dxs[i], dyx + coef * (xs[i] - mean), mode);
                    }
                }
            }
        });
    }

    template <class T>
    static void backward_tangent(core::const_view<T, core::cpu> x, core::const_view<T, core::cpu> x_dot,
                                 core::const_view<T, core::cpu> dy, core::const_view<T, core::cpu> dy_dot,
                                 core::view<T, core::cpu> dx_dot, core::grad_mode mode, core::index_t groups,
                                 core::index_t blocks, T epsilon) {
        const detail::minibatch_std_layout l(x.shape(), groups, blocks);
        core::scratch_scope scratch;
        T* ds = scratch.allocate<T>(core::shape{l.units()}).data();
        T* ds_dot = scratch.allocate<T>(core::shape{l.units()}).data();
        detail::minibatch_std_statistic_gradient(l, dy.data(), ds);
        detail::minibatch_std_statistic_gradient(l, dy_dot.data(), ds_dot);
        const T kg = static_cast<T>(l.k * l.groups);
        const T* xs = x.data();
        const T* ts = x_dot.data();
        const T* dts = dy_dot.data();
        T* out = dx_dot.data();
        core::parallel_for(0, l.units(), detail::minibatch_std_grain(l), [&](core::index_t lo, core::index_t hi) {
            for (core::index_t u = lo; u < hi; ++u) {
                const core::index_t b = l.base(u);
                const core::index_t j = u / l.f;
                for (core::index_t q = 0; q < l.k; ++q) {
                    T mean, sd;
                    minibatch_std_op::moments(xs + b + q, l.members_stride, l.groups, epsilon, mean, sd);
                    const T sd_dot =
                        minibatch_std_op::sd_tangent(xs + b + q, ts + b + q, l.members_stride, l.groups, mean, sd);
                    T mean_dot = T(0);
                    for (core::index_t g = 0; g < l.groups; ++g) mean_dot += ts[b + g * l.members_stride + q];
                    mean_dot /= static_cast<T>(l.groups);
                    const T inv_sd = T(1) / sd;
                    const T inv_kg_sd = inv_sd / kg;
                    for (core::index_t g = 0; g < l.groups; ++g) {
                        const core::index_t i = b + g * l.members_stride + q;
                        const core::index_t n = g * l.m + j;
                        const T dyx_dot = dts[i + n * (l.y_sample() - l.x_sample())];
                        core::store_grad(out[i],
                                         minibatch_std_op::dx_tangent(dyx_dot, xs[i] - mean, ts[i] - mean_dot, inv_sd,
                                                                      sd_dot, ds[u], ds_dot[u], inv_kg_sd),
                                         mode);
                    }
                }
            }
        });
    }
};

}  // namespace imbdef::ops
