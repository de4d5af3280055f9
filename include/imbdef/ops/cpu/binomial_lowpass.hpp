#pragma once
// The CPU backend of ops::binomial_lowpass: the stencil of cpu/stencil3x3.hpp, one channel plane
// per task. Arguments are checked by the front end (ops/binomial_lowpass.hpp).

#include "../../core/grad_mode.hpp"
#include "../../core/parallel.hpp"
#include "../../core/scratch.hpp"
#include "../../core/tensor.hpp"
#include "../backend.hpp"
#include "../def/binomial_lowpass.hpp"
#include "stencil3x3.hpp"

namespace imbdef::ops {

template <>
struct backend<binomial_lowpass_op, core::cpu> {
    template <class T>
    static void forward(core::const_view<T, core::cpu> x, core::view<T, core::cpu> y, const binomial_lowpass_params& p) {
        const index_t h = x.size(2), w = x.size(3), planes = x.size(0) * x.size(1);
        core::parallel_for(0, planes, 1, [&](index_t lo, index_t hi) {
            for (index_t plane = lo; plane < hi; ++plane) {
                core::scratch_scope<> scope;
                detail::stencil::forward_plane(x.data() + plane * h * w, y.data() + plane * h * w, h, w,
                                               binomial_lowpass_op::kernel(), p.border, scope);
            }
        });
    }

    template <class T>
    static void backward(core::const_view<T, core::cpu> dy, core::view<T, core::cpu> dx, core::grad_mode mode,
                         const binomial_lowpass_params& p) {
        const index_t h = dx.size(2), w = dx.size(3), planes = dx.size(0) * dx.size(1);
        core::parallel_for(0, planes, 1, [&](index_t lo, index_t hi) {
            for (index_t plane = lo; plane < hi; ++plane) {
                core::scratch_scope<> scope;
                detail::stencil::adjoint_plane(dy.data() + plane * h * w, dx.data() + plane * h * w, h, w,
                                               binomial_lowpass_op::kernel(), p.border, mode, scope);
            }
        });
    }
};

}  // namespace imbdef::ops
