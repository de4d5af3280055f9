#pragma once
// Real defect batches for the stage-2 trainer, from a few dozen images held in memory (the
// few-shot case: a defect set is small). Batch b takes positions [b N, (b + 1) N) of the endless
// shuffled sequence of data/sample_order.hpp, x-flipped when asked, so the order is a function
// of the batches served and a resumed run seeks to it (defect_batches::seek).
//
//   auto reals = data::load_defect_tensors(set, split.train);
//   data::defect_batches batches(std::move(reals), seed, /*x_flip=*/true);
//   trainer.step(batches);            // calls next(images, masks, classes)

#include <cstdint>
#include <span>
#include <string>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "defect_set.hpp"
#include "sample_order.hpp"

namespace imbdef::data {

class defect_batches {
public:
    defect_batches(defect_tensors reals, std::uint64_t seed, bool x_flip)
        : reals_(std::move(reals)), order_(seed, checked_size(reals_), x_flip) {}

    core::index_t size() const noexcept { return reals_.images.size(0); }
    std::uint64_t batches_served() const noexcept { return served_; }
    // Continue as if `batches` batches of `batch` samples had been served.
    void seek(std::uint64_t batches, core::index_t batch) {
        served_ = batches;
        position_ = batches * static_cast<std::uint64_t>(batch);
    }

    void next(core::view<float> images, core::view<float> masks, std::span<int> classes) {
        const core::index_t n = images.size(0), c = reals_.images.size(1), r = reals_.images.size(2), plane = r * r;
        IMBDEF_REQUIRE(images.shape() == (core::shape{n, c, r, r}) && masks.shape() == (core::shape{n, 1, r, r}) &&
                           classes.size() == static_cast<std::size_t>(n),
                       "data::defect_batches", "a batch of images [N, " + std::to_string(c) + ", " + std::to_string(r) + ", " +
                           std::to_string(r) + "], masks [N, 1, R, R] and N classes",
                       images.shape().to_string() + ", " + masks.shape().to_string() + ", " + std::to_string(classes.size()) + " classes");
        for (core::index_t i = 0; i < n; ++i) {
            const sample_slot s = order_.at(position_++);
            classes[static_cast<std::size_t>(i)] = reals_.classes[static_cast<std::size_t>(s.sample)];
            for (core::index_t k = 0; k <= c; ++k) {
                const float* src = k < c ? reals_.images.data() + (s.sample * c + k) * plane : reals_.masks.data() + s.sample * plane;
                float* dst = k < c ? images.data() + (i * c + k) * plane : masks.data() + i * plane;
                for (core::index_t y = 0; y < r; ++y)
                    for (core::index_t x = 0; x < r; ++x) dst[y * r + x] = src[y * r + (s.flip ? r - 1 - x : x)];
            }
        }
        ++served_;
    }

private:
    static core::index_t checked_size(const defect_tensors& t) {
        IMBDEF_REQUIRE(t.images.rank() == 4 && t.images.size(0) >= 1, "data::defect_batches", "at least one real defect image",
                       "none");
        return t.images.size(0);
    }

    defect_tensors reals_;
    sample_order order_;
    std::uint64_t position_ = 0, served_ = 0;
};

}  // namespace imbdef::data
