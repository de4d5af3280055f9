#pragma once
// The CPU loop of elementwise ops: contiguous chunks over the thread pool, each a plain indexed
// loop that the compiler can vectorise once `fn` is inlined.

#include "../../core/parallel.hpp"
#include "../../core/shape.hpp"

namespace imbdef::ops::detail {

// Elements per chunk below which another thread costs more than it saves (a memory-bound op
// moves 8 to 12 bytes per element); tune with bench/, not by guess.
inline constexpr core::index_t elementwise_grain = core::index_t{1} << 15;

// Calls fn(i) for every i in [0, n), in parallel.
template <class Fn>
void for_each_element(core::index_t n, const Fn& fn) {
    core::parallel_for(0, n, elementwise_grain, [&fn](core::index_t lo, core::index_t hi) {
        for (core::index_t i = lo; i < hi; ++i) fn(i);
    });
}

}  // namespace imbdef::ops::detail
