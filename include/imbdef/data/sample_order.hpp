#pragma once
// The order in which a loader serves samples, as a pure function of (seed, epoch), so a run can be
// resumed from a position alone and no result depends on threads or timing.
//
// Samples are numbered 0 .. n-1 in the order of the file list. The samples served form one endless
// sequence; position p (counting from 0 since the start of training) is sample
// epoch_order(seed, e, n)[p % n] of epoch e = p / n. Batches of size N take positions
// [b N, (b + 1) N), so a batch can span an epoch boundary and batch b is found from b alone.
//
// epoch_order is a Fisher-Yates shuffle: for i = n-1 down to 1, swap element i with element j,
// j uniform in [0, i], drawn from the 64 bits at offsets 2i, 2i+1 of the Philox stream
// (seed, order_stream + e). The x-flip of sample s in epoch e is the low bit of the word at offset s
// of the stream (seed, flip_stream + e): decided per (epoch, sample), so the same image is not
// always flipped the same way, and independently of where in the epoch it falls.

#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/philox.hpp"
#include "../core/shape.hpp"

namespace imbdef::data {

// Stream ids of the data pipeline; the epoch is added, so each epoch has its own stream. Their top
// bits keep them apart from the small stream ids the networks and trainers use.
inline constexpr std::uint64_t order_stream = 0x4f52ull << 48;  // "OR"
inline constexpr std::uint64_t flip_stream = 0x464cull << 48;   // "FL"
inline constexpr std::uint64_t max_epochs = 1ull << 48;
inline constexpr core::index_t max_samples = (core::index_t{1} << 31) - 1;

namespace detail {

// floor(r * bound / 2^64): uniform in [0, bound) for uniform 64-bit r, with a bias below
// bound / 2^64; computed in 64-bit halves, so bound must be below 2^32.
constexpr std::uint64_t scale_to(std::uint64_t r, std::uint64_t bound) noexcept {
    const std::uint64_t lo = (r & 0xffffffffull) * bound;
    const std::uint64_t hi = (r >> 32) * bound + (lo >> 32);
    return hi >> 32;
}

inline void require_epoch(std::uint64_t epoch, core::index_t n) {
    IMBDEF_REQUIRE(epoch < max_epochs, "data::sample_order", "an epoch below 2^48", "epoch " + std::to_string(epoch));
    IMBDEF_REQUIRE(n >= 1 && n <= max_samples, "data::sample_order", "between 1 and 2^31 - 1 samples",
                   std::to_string(n) + " samples");
}

}  // namespace detail

// The permutation of [0, n) that epoch `epoch` serves.
inline std::vector<core::index_t> epoch_order(std::uint64_t seed, std::uint64_t epoch, core::index_t n) {
    detail::require_epoch(epoch, n);
    std::vector<core::index_t> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), core::index_t{0});
    const core::philox_stream rng{seed, order_stream + epoch};
    for (core::index_t i = n - 1; i >= 1; --i) {
        const auto k = static_cast<std::uint64_t>(i);
        const std::uint64_t r = static_cast<std::uint64_t>(rng.bits(2 * k)) | static_cast<std::uint64_t>(rng.bits(2 * k + 1)) << 32;
        const auto j = static_cast<core::index_t>(detail::scale_to(r, k + 1));
        std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
    }
    return order;
}

// Whether sample `sample` is mirrored left-right in epoch `epoch` (when flips are on).
inline bool x_flip_of(std::uint64_t seed, std::uint64_t epoch, core::index_t sample) {
    return (core::philox_stream{seed, flip_stream + epoch}.bits(static_cast<std::uint64_t>(sample)) & 1u) != 0;
}

struct sample_slot {
    core::index_t sample = 0;
    bool flip = false;
    std::uint64_t epoch = 0;
};

// Position -> sample, keeping the permutations of the last two epochs met (a batch spans at most
// a boundary or two, and positions are visited in increasing order). Not thread-safe: one per
// consumer.
class sample_order {
public:
    sample_order(std::uint64_t seed, core::index_t n, bool x_flip) : seed_(seed), n_(n), x_flip_(x_flip) {
        detail::require_epoch(0, n);
    }

    core::index_t size() const noexcept { return n_; }

    sample_slot at(std::uint64_t position) {
        const std::uint64_t epoch = position / static_cast<std::uint64_t>(n_);
        const auto k = static_cast<std::size_t>(position % static_cast<std::uint64_t>(n_));
        const core::index_t sample = permutation(epoch)[k];
        return {sample, x_flip_ && x_flip_of(seed_, epoch, sample), epoch};
    }

private:
    const std::vector<core::index_t>& permutation(std::uint64_t epoch) {
        for (auto& c : cache_)
            if (c.valid && c.epoch == epoch) return c.order;
        auto& slot = cache_[next_slot_];
        next_slot_ ^= 1;
        slot.order = epoch_order(seed_, epoch, n_);
        slot.epoch = epoch;
        slot.valid = true;
        return slot.order;
    }

    struct cached {
        bool valid = false;
        std::uint64_t epoch = 0;
        std::vector<core::index_t> order;
    };
    std::uint64_t seed_;
    core::index_t n_;
    bool x_flip_;
    cached cache_[2];
    int next_slot_ = 0;
};

}  // namespace imbdef::data
