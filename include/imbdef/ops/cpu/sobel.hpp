#pragma once
// The CPU backends of ops::sobel and ops::sobel_magnitude: the stencils of cpu/stencil3x3.hpp,
// one channel plane per task. Arguments are checked by the front end (ops/sobel.hpp).

#include "../../core/grad_mode.hpp"
#include "../../core/parallel.hpp"
#include "../../core/scratch.hpp"
#include "../../core/tensor.hpp"
#include "../backend.hpp"
#include "../def/sobel.hpp"
#include "stencil3x3.hpp"

namespace imbdef::ops {

template <>
struct backend<sobel_op, core::cpu> {
    // gx and gy as given (either may be empty: not computed).
    template <class T>
    static void forward(core::const_view<T, core::cpu> x, core::view<T, core::cpu> gx, core::view<T, core::cpu> gy,
                        const sobel_params& p) {
        const index_t h = x.size(2), w = x.size(3), planes = x.size(0) * x.size(1);
        const stencil3x3 kx = sobel_op::kernel_x(p.normalized), ky = sobel_op::kernel_y(p.normalized);
        core::parallel_for(0, planes, 1, [&](index_t lo, index_t hi) {
            for (index_t plane = lo; plane < hi; ++plane) {
                core::scratch_scope<> scope;
                const T* xp = x.data() + plane * h * w;
                if (!gx.empty()) detail::stencil::forward_plane(xp, gx.data() + plane * h * w, h, w, kx, p.border, scope);
                if (!gy.empty()) detail::stencil::forward_plane(xp, gy.data() + plane * h * w, h, w, ky, p.border, scope);
            }
        });
    }

    // dx (under mode) = K_x^T dgx + K_y^T dgy; an empty dgx or dgy counts as zero.
    template <class T>
    static void backward(core::const_view<T, core::cpu> dgx, core::const_view<T, core::cpu> dgy,
                         core::view<T, core::cpu> dx, core::grad_mode mode, const sobel_params& p) {
        const index_t h = dx.size(2), w = dx.size(3), planes = dx.size(0) * dx.size(1);
        const stencil3x3 kx = sobel_op::kernel_x(p.normalized), ky = sobel_op::kernel_y(p.normalized);
        core::parallel_for(0, planes, 1, [&](index_t lo, index_t hi) {
            for (index_t plane = lo; plane < hi; ++plane) {
                core::scratch_scope<> scope;
                T* d = dx.data() + plane * h * w;
                core::grad_mode m = mode;
                if (!dgx.empty()) {
                    detail::stencil::adjoint_plane(dgx.data() + plane * h * w, d, h, w, kx, p.border, m, scope);
                    m = core::grad_mode::accumulate;
                }
                if (!dgy.empty()) {
                    detail::stencil::adjoint_plane(dgy.data() + plane * h * w, d, h, w, ky, p.border, m, scope);
                    m = core::grad_mode::accumulate;
                }
                if (m == core::grad_mode::assign)
                    for (index_t i = 0; i < h * w; ++i) d[i] = T(0);
            }
        });
    }
};

template <>
struct backend<sobel_magnitude_op, core::cpu> {
    template <class T>
    static void forward(core::const_view<T, core::cpu> x, core::view<T, core::cpu> m, const sobel_params& p) {
        const index_t h = x.size(2), w = x.size(3), planes = x.size(0) * x.size(1);
        const stencil3x3 kx = sobel_op::kernel_x(p.normalized), ky = sobel_op::kernel_y(p.normalized);
        const T eps = static_cast<T>(p.eps);
        core::parallel_for(0, planes, 1, [&](index_t lo, index_t hi) {
            for (index_t plane = lo; plane < hi; ++plane) {
                core::scratch_scope<> scope;
                T* gx = scope.allocate<T>(core::shape{h * w}).data();
                T* gy = scope.allocate<T>(core::shape{h * w}).data();
                const T* xp = x.data() + plane * h * w;
                detail::stencil::forward_plane(xp, gx, h, w, kx, p.border, scope);
                detail::stencil::forward_plane(xp, gy, h, w, ky, p.border, scope);
                T* mp = m.data() + plane * h * w;
                for (index_t i = 0; i < h * w; ++i) mp[i] = sobel_op::magnitude(gx[i], gy[i], eps);
            }
        });
    }

    // dx (under mode) from dm: dgx = dm gx / m, dgy = dm gy / m, then the Sobel adjoint.
    template <class T>
    static void backward(core::const_view<T, core::cpu> x, core::const_view<T, core::cpu> dm,
                         core::view<T, core::cpu> dx, core::grad_mode mode, const sobel_params& p) {
        const index_t h = x.size(2), w = x.size(3), planes = x.size(0) * x.size(1);
        const stencil3x3 kx = sobel_op::kernel_x(p.normalized), ky = sobel_op::kernel_y(p.normalized);
        const T eps = static_cast<T>(p.eps);
        core::parallel_for(0, planes, 1, [&](index_t lo, index_t hi) {
            for (index_t plane = lo; plane < hi; ++plane) {
                core::scratch_scope<> scope;
                T* gx = scope.allocate<T>(core::shape{h * w}).data();
                T* gy = scope.allocate<T>(core::shape{h * w}).data();
                const T* xp = x.data() + plane * h * w;
                detail::stencil::forward_plane(xp, gx, h, w, kx, p.border, scope);
                detail::stencil::forward_plane(xp, gy, h, w, ky, p.border, scope);
                const T* dmp = dm.data() + plane * h * w;
                for (index_t i = 0; i < h * w; ++i) {
                    const T s = dmp[i] / sobel_op::magnitude(gx[i], gy[i], eps);
                    gx[i] *= s;
                    gy[i] *= s;
                }
                T* d = dx.data() + plane * h * w;
                detail::stencil::adjoint_plane<T>(gx, d, h, w, kx, p.border, mode, scope);
                detail::stencil::adjoint_plane<T>(gy, d, h, w, ky, p.border, core::grad_mode::accumulate, scope);
            }
        });
    }
};

}  // namespace imbdef::ops
