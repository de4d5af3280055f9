#pragma once
// The CPU backend of ops::resize: per channel plane, the x pass row by row (a few taps per output)
// into scratch, then the y pass as weighted sums of whole rows (cpu/polyphase.hpp's vector
// kernel); the backward pass runs the transposes in the opposite order. Arguments are checked by
// the front end (ops/resize.hpp).

#include <algorithm>
#include <cmath>

#include "../../core/grad_mode.hpp"
#include "../../core/parallel.hpp"
#include "../../core/scratch.hpp"
#include "../../core/tensor.hpp"
#include "../backend.hpp"
#include "../def/resize.hpp"
#include "polyphase.hpp"

namespace imbdef::ops {

namespace detail {

// The sparse resampling matrix of one axis: output o reads inputs first[o] .. first[o] + count[o] - 1
// with weights w[o * max + m].
template <class T>
struct resize_axis {
    index_t in = 0, out = 0, max = 1;
    index_t* first = nullptr;
    index_t* count = nullptr;
    T* w = nullptr;
};

template <class T>
resize_axis<T> plan_resize_axis(index_t in, index_t out, double a, core::scratch_scope<>& scratch) {
    resize_axis<T> r;
    r.in = in;
    r.out = out;
    const double s = static_cast<double>(in) / static_cast<double>(out);
    r.max = out < in ? static_cast<index_t>(std::ceil(s)) + 1 : (out > in ? 4 : 1);
    r.first = scratch.allocate<index_t>(core::shape{out}).data();
    r.count = scratch.allocate<index_t>(core::shape{out}).data();
    r.w = scratch.allocate<T>(core::shape{out * r.max}).data();
    for (index_t o = 0; o < out; ++o) {
        T* w = r.w + o * r.max;
        std::fill_n(w, r.max, T(0));
        if (out == in) {
            r.first[o] = o;
            r.count[o] = 1;
            w[0] = T(1);
        } else if (out < in) {
            const double lo = static_cast<double>(o) * s, hi = static_cast<double>(o + 1) * s;
            const index_t j0 = static_cast<index_t>(std::floor(lo));
            const index_t j1 = std::min(in, static_cast<index_t>(std::ceil(hi)));
            r.first[o] = j0;
            r.count[o] = j1 - j0;
            for (index_t j = j0; j < j1; ++j)
                w[j - j0] = static_cast<T>((std::min(static_cast<double>(j + 1), hi) - std::max(static_cast<double>(j), lo)) / s);
        } else {
            const double src = (static_cast<double>(o) + 0.5) * s - 0.5;
            const index_t j0 = static_cast<index_t>(std::floor(src));
            const index_t lo = std::clamp<index_t>(j0 - 1, 0, in - 1), hi = std::clamp<index_t>(j0 + 2, 0, in - 1);
            r.first[o] = lo;
            r.count[o] = hi - lo + 1;
            double acc[4] = {0, 0, 0, 0};
            for (index_t j = j0 - 1; j <= j0 + 2; ++j)
                acc[std::clamp<index_t>(j, 0, in - 1) - lo] += resize_op::cubic(src - static_cast<double>(j), a);
            for (index_t m = 0; m < r.count[o]; ++m) w[m] = static_cast<T>(acc[m]);
        }
    }
    return r;
}

}  // namespace detail

template <>
struct backend<resize_op, core::cpu> {
    template <class T>
    static void forward(core::const_view<T, core::cpu> x, core::view<T, core::cpu> y, const resize_params& p) {
        namespace pp = detail::polyphase;
        core::scratch_scope<> scope;
        const index_t h = x.size(2), w = x.size(3), oh = y.size(2), ow = y.size(3);
        const auto rx = detail::plan_resize_axis<T>(w, ow, p.cubic_a, scope);
        const auto ry = detail::plan_resize_axis<T>(h, oh, p.cubic_a, scope);
        const index_t stride = pp::round_up(ow, pp::block<T>);
        core::parallel_for(0, x.size(0) * x.size(1), 1, [&](index_t lo, index_t hi) {
            core::scratch_scope<> task;
            T* tmp = task.allocate<T>(core::shape{h * stride}).data();
            T* row = task.allocate<T>(core::shape{stride}).data();
            const T** ptrs = task.allocate<const T*>(core::shape{ry.max}).data();
            for (index_t plane = lo; plane < hi; ++plane) {
                const T* xp = x.data() + plane * h * w;
                for (index_t i = 0; i < h; ++i) {
                    T* t = tmp + i * stride;
                    for (index_t o = 0; o < ow; ++o) {
                        const T* src = xp + i * w + rx.first[o];
                        const T* wt = rx.w + o * rx.max;
                        T s = T(0);
                        for (index_t m = 0; m < rx.count[o]; ++m) s += wt[m] * src[m];
                        t[o] = s;
                    }
                    std::fill(t + ow, t + stride, T(0));
                }
                T* yp = y.data() + plane * oh * ow;
                for (index_t o = 0; o < oh; ++o) {
                    for (index_t m = 0; m < ry.count[o]; ++m) ptrs[m] = tmp + (ry.first[o] + m) * stride;
                    pp::combine<false>(row, stride, ptrs, ry.w + o * ry.max, static_cast<int>(ry.count[o]));
                    std::copy(row, row + ow, yp + o * ow);
                }
            }
        });
    }

    // dx (under mode) = R_y^T dy R_x.
    template <class T>
    static void backward(core::const_view<T, core::cpu> dy, core::view<T, core::cpu> dx, core::grad_mode mode,
                         const resize_params& p) {
        core::scratch_scope<> scope;
        const index_t h = dx.size(2), w = dx.size(3), oh = dy.size(2), ow = dy.size(3);
        const auto rx = detail::plan_resize_axis<T>(w, ow, p.cubic_a, scope);
        const auto ry = detail::plan_resize_axis<T>(h, oh, p.cubic_a, scope);
        core::parallel_for(0, dx.size(0) * dx.size(1), 1, [&](index_t lo, index_t hi) {
            core::scratch_scope<> task;
            T* tmp = task.allocate<T>(core::shape{h * ow}).data();
            T* row = task.allocate<T>(core::shape{w}).data();
            for (index_t plane = lo; plane < hi; ++plane) {
                const T* g = dy.data() + plane * oh * ow;
                std::fill_n(tmp, h * ow, T(0));
                for (index_t o = 0; o < oh; ++o)
                    for (index_t m = 0; m < ry.count[o]; ++m) {
                        const T wt = ry.w[o * ry.max + m];
                        T* t = tmp + (ry.first[o] + m) * ow;
                        const T* src = g + o * ow;
                        for (index_t j = 0; j < ow; ++j) t[j] += wt * src[j];
                    }
                T* d = dx.data() + plane * h * w;
                for (index_t i = 0; i < h; ++i) {
                    std::fill_n(row, w, T(0));
                    const T* t = tmp + i * ow;
                    for (index_t o = 0; o < ow; ++o) {
                        const T* wt = rx.w + o * rx.max;
                        T* dst = row + rx.first[o];
                        for (index_t m = 0; m < rx.count[o]; ++m) dst[m] += wt[m] * t[o];
                    }
                    T* out = d + i * w;
                    if (mode == core::grad_mode::assign)
                        std::copy(row, row + w, out);
                    else
                        for (index_t j = 0; j < w; ++j) out[j] += row[j];
                }
            }
        });
    }
};

}  // namespace imbdef::ops
