#pragma once
// Launch geometry shared by imbdef's kernels: one-dimensional grid-stride loops, so any element
// count runs with a bounded grid and each kernel is correct whatever grid it is given.

#include <algorithm>

#include "../core/macros.hpp"
#include "../core/shape.hpp"

namespace imbdef::cuda {

inline constexpr unsigned threads_per_block = 256;

// Blocks for `items` work items: one item per thread up to a cap, beyond which threads loop.
// At least 1, so the result is always a valid grid (callers skip empty work before launching).
inline unsigned blocks_for(core::index_t items) noexcept {
    constexpr core::index_t max_blocks = core::index_t{1} << 16;
    const core::index_t blocks = (items + threads_per_block - 1) / threads_per_block;
    return static_cast<unsigned>(std::clamp<core::index_t>(blocks, 1, max_blocks));
}

// Calls fn(i) for every i in [0, n) that falls to this thread.
template <class Fn>
__device__ IMBDEF_FORCEINLINE void grid_stride(core::index_t n, Fn&& fn) {
    const core::index_t stride = static_cast<core::index_t>(blockDim.x) * gridDim.x;
    for (core::index_t i = static_cast<core::index_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        fn(i);
}

}  // namespace imbdef::cuda
