#pragma once
// Filling core::cuda views from a Philox stream: the same signature and the same bits as the CPU
// fills of core/random.hpp. Element i receives the draw at offset `offset + i`; the next free
// offset is returned. Each thread computes one Philox block and writes the (up to four) elements
// it covers, so offsets that are not a multiple of 4 cost nothing extra.
//
// The affine map lo + (hi - lo) * u (and mean + stddev * z) is written with rounded products
// because nvcc would otherwise fuse it into an FMA and differ from the CPU in the last bit.

#include <cstdint>

#include "../core/device.hpp"
#include "../core/philox.hpp"
#include "../core/tensor.hpp"
#include "../core/fp.hpp"
#include "check.cuh"
#include "launch.cuh"

namespace imbdef::cuda::detail {

// Calls write(lane, i) for each lane of Philox block b whose offset 4b + lane lies in
// [offset, offset + n), i = 4b + lane - offset being the element that lane fills.
template <class Write>
__device__ IMBDEF_FORCEINLINE void for_each_lane(std::uint64_t b, std::uint64_t offset, std::uint64_t n,
                                                 Write&& write) {
    for (unsigned lane = 0; lane < 4; ++lane) {
        const std::uint64_t pos = 4 * b + lane;
        if (pos >= offset && pos - offset < n) write(lane, static_cast<core::index_t>(pos - offset));
    }
}

template <class T>
__global__ void fill_uniform_kernel(core::view<T, core::cuda> out, core::philox_stream rng, std::uint64_t offset,
                                    std::uint64_t first_block, core::index_t blocks, T lo, T hi) {
    const std::uint64_t n = static_cast<std::uint64_t>(out.numel());
    grid_stride(blocks, [&](core::index_t t) {
        const std::uint64_t b = first_block + static_cast<std::uint64_t>(t);
        const core::philox_block r = rng.block(b);
        for_each_lane(b, offset, n, [&](unsigned lane, core::index_t i) {
            const T u = static_cast<T>(core::uniform_from_bits(r.v[lane]));
            out[i] = core::fp::add(lo, core::fp::mul(hi - lo, u));
        });
    });
}

template <class T>
__global__ void fill_normal_kernel(core::view<T, core::cuda> out, core::philox_stream rng, std::uint64_t offset,
                                   std::uint64_t first_block, core::index_t blocks, T mean, T stddev) {
    const std::uint64_t n = static_cast<std::uint64_t>(out.numel());
    grid_stride(blocks, [&](core::index_t t) {
        const std::uint64_t b = first_block + static_cast<std::uint64_t>(t);
        float z[4];
        rng.normal_block(b, z);
        for_each_lane(b, offset, n, [&](unsigned lane, core::index_t i) {
            out[i] = core::fp::add(mean, core::fp::mul(stddev, static_cast<T>(z[lane])));
        });
    });
}

// The Philox blocks that cover offsets [offset, offset + n), n > 0.
struct block_range {
    std::uint64_t first;
    core::index_t count;
};
inline block_range blocks_covering(std::uint64_t offset, core::index_t n) noexcept {
    const std::uint64_t first = offset >> 2;
    const std::uint64_t last = (offset + static_cast<std::uint64_t>(n) - 1) >> 2;
    return {first, static_cast<core::index_t>(last - first + 1)};
}

}  // namespace imbdef::cuda::detail

namespace imbdef::core {

// Uniform draws in (lo, hi) (float precision, converted to T).
template <class T>
std::uint64_t fill_uniform(view<T, cuda> out, philox_stream rng, std::uint64_t offset = 0, T lo = T(0), T hi = T(1)) {
    const index_t n = out.numel();
    if (n > 0) {
        const auto range = ::imbdef::cuda::detail::blocks_covering(offset, n);
        ::imbdef::cuda::detail::fill_uniform_kernel<T>
            <<<::imbdef::cuda::blocks_for(range.count), ::imbdef::cuda::threads_per_block>>>(
                out, rng, offset, range.first, range.count, lo, hi);
        IMBDEF_CUDA_CHECK_LAUNCH(fill_uniform_kernel);
    }
    return offset + static_cast<std::uint64_t>(n);
}

// Normal draws with the given mean and standard deviation (float precision, converted to T).
template <class T>
std::uint64_t fill_normal(view<T, cuda> out, philox_stream rng, std::uint64_t offset = 0, T mean = T(0),
                          T stddev = T(1)) {
    const index_t n = out.numel();
    if (n > 0) {
        const auto range = ::imbdef::cuda::detail::blocks_covering(offset, n);
        ::imbdef::cuda::detail::fill_normal_kernel<T>
            <<<::imbdef::cuda::blocks_for(range.count), ::imbdef::cuda::threads_per_block>>>(
                out, rng, offset, range.first, range.count, mean, stddev);
        IMBDEF_CUDA_CHECK_LAUNCH(fill_normal_kernel);
    }
    return offset + static_cast<std::uint64_t>(n);
}

}  // namespace imbdef::core
