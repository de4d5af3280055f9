#pragma once
// The CPU backend of map_op (def/map.hpp): contiguous chunks over the thread pool, a plain loop
// per chunk that the compiler vectorises once the functor is inlined.

#include "../../core/grad_mode.hpp"
#include "../../core/tensor.hpp"
#include "../backend.hpp"
#include "../def/map.hpp"
#include "elementwise.hpp"

namespace imbdef::ops {

template <>
struct backend<map_op, core::cpu> {
    template <class Fn, class T, class... In>
    static void map(Fn fn, core::view<T, core::cpu> y, core::const_view<In, core::cpu>... in) {
        T* out = y.data();
        detail::for_each_element(y.numel(), [=, ... p = in.data()](core::index_t i) { out[i] = fn(p[i]...); });
    }

    template <class Fn, class T, class... In>
    static void map_grad(Fn fn, core::view<T, core::cpu> g, core::grad_mode mode,
                         core::const_view<In, core::cpu>... in) {
        T* out = g.data();
        if (mode == core::grad_mode::assign)
            detail::for_each_element(g.numel(), [=, ... p = in.data()](core::index_t i) { out[i] = fn(p[i]...); });
        else if (mode == core::grad_mode::accumulate)
            detail::for_each_element(g.numel(), [=, ... p = in.data()](core::index_t i) { out[i] += fn(p[i]...); });
    }
};

}  // namespace imbdef::ops
