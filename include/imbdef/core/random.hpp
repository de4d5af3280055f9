#pragma once
// Filling CPU tensors from a Philox stream. Element i of the view receives the draw at offset
// `offset + i`, whatever the thread count, so results are reproducible from (seed, stream, offset)
// and equal to the CUDA fills in <imbdef/cuda/random.cuh> (the scaling uses fp.hpp's rounded
// operations for that reason). The next free offset is returned so
// that consecutive fills can share a stream without overlapping.

#include <algorithm>
#include <cstdint>

#include "fp.hpp"
#include "parallel.hpp"
#include "philox.hpp"
#include "tensor.hpp"

namespace imbdef::core {

namespace detail {
// Visits offsets [offset, offset + n) block by block, so each Philox block is computed once.
template <class Fn>
void for_each_philox_block(std::uint64_t offset, index_t n, Fn&& fn) {
    constexpr index_t grain = 4096;
    parallel_for(0, n, grain, [&](index_t lo, index_t hi) {
        index_t i = lo;
        while (i < hi) {
            const std::uint64_t pos = offset + static_cast<std::uint64_t>(i);
            const std::uint64_t b = pos >> 2;
            const int first_lane = static_cast<int>(pos & 3);
            const int lanes = static_cast<int>(std::min<index_t>(4 - first_lane, hi - i));
            fn(b, first_lane, lanes, i);
            i += lanes;
        }
    });
}
}  // namespace detail

// Uniform draws in (lo, hi) (float precision, converted to T).
template <class T>
std::uint64_t fill_uniform(view<T, cpu> out, philox_stream rng, std::uint64_t offset = 0, T lo = T(0), T hi = T(1)) {
    detail::for_each_philox_block(offset, out.numel(), [&](std::uint64_t b, int lane, int lanes, index_t i) {
        const philox_block r = rng.block(b);
        for (int k = 0; k < lanes; ++k)
            out[i + k] = fp::add(lo, fp::mul(hi - lo, static_cast<T>(uniform_from_bits(r.v[lane + k]))));
    });
    return offset + static_cast<std::uint64_t>(out.numel());
}

// Normal draws with the given mean and standard deviation (float precision, converted to T).
template <class T>
std::uint64_t fill_normal(view<T, cpu> out, philox_stream rng, std::uint64_t offset = 0, T mean = T(0), T stddev = T(1)) {
    detail::for_each_philox_block(offset, out.numel(), [&](std::uint64_t b, int lane, int lanes, index_t i) {
        float z[4];
        rng.normal_block(b, z);
        for (int k = 0; k < lanes; ++k) out[i + k] = fp::add(mean, fp::mul(stddev, static_cast<T>(z[lane + k])));
    });
    return offset + static_cast<std::uint64_t>(out.numel());
}

}  // namespace imbdef::core
