#pragma once
// The CPU backend of ops::upfirdn2d: one polyphase stage (cpu/polyphase.hpp) per tile of channel
// planes, tiles (and, when there are few, bands of output rows) spread over the thread pool.
// Arguments are checked by the front end (ops/upfirdn2d.hpp).

#include "../../core/grad_mode.hpp"
#include "../../core/parallel.hpp"
#include "../../core/scratch.hpp"
#include "../../core/tensor.hpp"
#include "../backend.hpp"
#include "../def/upfirdn2d.hpp"
#include "polyphase.hpp"

namespace imbdef::ops {

namespace detail {

template <class T>
polyphase::filter_ref<T> upfirdn2d_filter(core::const_view<T, core::cpu> f) {
    if (f.rank() == 1) return {f.data(), f.size(0), f.size(0), true};
    return {f.data(), f.size(0), f.size(1), false};
}

// y (under `mode`) = the stage (ax, ay, f, flip, gain) applied to every plane of x. x and y are
// [planes, ay.in, ax.in] and [planes, ay.out(), ax.out()] in memory.
template <class T>
void run_upfirdn2d(const T* x, T* y, index_t planes, const upfirdn_axis& ax, const upfirdn_axis& ay,
                   const polyphase::filter_ref<T>& f, bool flip, double gain, core::grad_mode mode) {
    namespace pp = polyphase;
    constexpr index_t L = pp::block<T>;
    core::scratch_scope<> scope;
    const pp::stage_plan<T> plan = pp::plan_stage<T>(ax, ay, pp::separate_if_rank1(f, scope), flip, gain, 1.0, scope);
    const index_t in_h = ay.in, in_w = ax.in, out_h = ay.out(), out_w = ax.out();
    const index_t tiles = pp::tiles_of<T>(planes);
    const index_t bands = pp::bands_per_tile(tiles, out_h);
    const bool accumulate = mode == core::grad_mode::accumulate;
    core::parallel_for(0, tiles * bands, 1, [&](index_t lo, index_t hi) {
        core::scratch_scope<> task_scope;
        pp::stage<T> st(plan, task_scope);
        T* row = task_scope.allocate<T>(core::shape{out_w * L}).data();
        const T* in_rows[L];
        T* out_rows[L];
        const pp::vec<T> zero{};
        for (index_t task = lo; task < hi; ++task) {
            const index_t t = task / bands, band = task % bands;
            const index_t oy0 = out_h * band / bands, oy1 = out_h * (band + 1) / bands;
            const pp::tile_planes tp = pp::tile_of<T>(t, planes);
            st.restart();
            auto source = [&](index_t j, T* dst) {
                for (index_t p = 0; p < L; ++p) in_rows[p] = x + (tp.plane(p, planes) * in_h + j) * in_w;
                pp::gather_row(in_rows, in_w, zero, dst);
            };
            for (index_t oy = oy0; oy < oy1; ++oy) {
                st.produce(oy, source, row);
                for (index_t p = 0; p < tp.valid; ++p) out_rows[p] = y + ((tp.first + p) * out_h + oy) * out_w;
                pp::scatter_row(row, out_w, out_rows, tp.valid, accumulate);
            }
        }
    });
}

}  // namespace detail

template <>
struct backend<upfirdn2d_op, core::cpu> {
    template <class T>
    static void forward(core::const_view<T, core::cpu> x, core::const_view<T, core::cpu> f,
                        core::view<T, core::cpu> y, const upfirdn2d_params& p) {
        const auto [ax, ay] = upfirdn2d_axes(x.shape(), f.shape(), p);
        detail::run_upfirdn2d<T>(x.data(), y.data(), x.size(0) * x.size(1), ax, ay, detail::upfirdn2d_filter(f),
                                 p.flip_filter, p.gain, core::grad_mode::assign);
    }

    // dx (under mode, assign or accumulate) = the adjoint of forward applied to dy.
    template <class T>
    static void backward(core::const_view<T, core::cpu> dy, core::const_view<T, core::cpu> f,
                         core::view<T, core::cpu> dx, core::grad_mode mode, const upfirdn2d_params& p) {
        const auto [ax, ay] = upfirdn2d_axes(dx.shape(), f.shape(), p);
        detail::run_upfirdn2d<T>(dy.data(), dx.data(), dx.size(0) * dx.size(1), ax.transposed(), ay.transposed(),
                                 detail::upfirdn2d_filter(f), !p.flip_filter, p.gain, mode);
    }
};

}  // namespace imbdef::ops
