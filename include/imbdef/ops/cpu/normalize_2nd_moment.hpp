#pragma once
// The CPU backend of ops::normalize_2nd_moment (rules in def/normalize_2nd_moment.hpp), one
// sample per iteration. Arguments are checked by the front end.

#include <algorithm>

#include "../../core/grad_mode.hpp"
#include "../../core/parallel.hpp"
#include "../../core/tensor.hpp"
#include "../backend.hpp"
#include "../def/normalize_2nd_moment.hpp"

namespace imbdef::ops {

template <>
struct backend<normalize_2nd_moment_op, core::cpu> {
    template <class T>
    static void forward(core::const_view<T, core::cpu> x, core::view<T, core::cpu> y, core::index_t samples,
                        T epsilon) {
        const core::index_t f = x.numel() / samples;
        const T* xs = x.data();
        T* ys = y.data();
        core::parallel_for(0, samples, grain(f), [=](core::index_t lo, core::index_t hi) {
            for (core::index_t n = lo; n < hi; ++n) {
                const T* xn = xs + n * f;
                T* yn = ys + n * f;
                const T r = normalize_2nd_moment_op::inverse_rms(xn, f, epsilon);
                for (core::index_t i = 0; i < f; ++i) yn[i] = xn[i] * r;
            }
        });
    }

    template <class T>
    static void backward(core::const_view<T, core::cpu> x, core::const_view<T, core::cpu> dy,
                         core::view<T, core::cpu> dx, core::grad_mode mode, core::index_t samples, T epsilon) {
        const core::index_t f = x.numel() / samples;
        const T* xs = x.data();
        const T* dys = dy.data();
        T* dxs = dx.data();
        core::parallel_for(0, samples, grain(f), [=](core::index_t lo, core::index_t hi) {
            for (core::index_t n = lo; n < hi; ++n) {
                const T* xn = xs + n * f;
                const T* dyn = dys + n * f;
                T* dxn = dxs + n * f;
                const T r = normalize_2nd_moment_op::inverse_rms(xn, f, epsilon);
                const T c = normalize_2nd_moment_op::backward_coefficient(xn, dyn, f, r);
                if (mode == core::grad_mode::assign)
                    for (core::index_t i = 0; i < f; ++i) dxn[i] = r * dyn[i] - c * xn[i];
                else
                    for (core::index_t i = 0; i < f; ++i) dxn[i] += r * dyn[i] - c * xn[i];
            }
        });
    }

private:
    // Samples per chunk: at least ~2^14 features, below which one thread is faster.
    static core::index_t grain(core::index_t f) { return std::max<core::index_t>(1, (core::index_t{1} << 14) / std::max<core::index_t>(f, 1)); }
};

}  // namespace imbdef::ops
