#pragma once
// Stage 2 on native-scale patches: real defect batches cut from the defect images at their own
// scale (times `scale`), instead of from whole images shrunk to the preset's resolution. One
// patch pixel is then one pixel of what a detector at full resolution sees, so a blowhole of a
// few pixels stays a few pixels, where shrinking a 300-px tile to 64 px erases it.
//
//   auto scaled = data::load_scaled_defects(set, split.train, {.size = 64, .scale = 1.0});
//   data::defect_patches batches(std::move(scaled), seed, /*x_flip=*/true);
//   trainer.step(batches);            // calls next(images, masks, classes)
//
// Where a patch goes (patch_origin): a defect whose bounding box fits in the patch lies wholly
// inside it at a uniformly random offset; a larger one (Magnetic Tile's Uneven can cover a
// quarter of a tile) is trained on the patches that cover it: a random defect pixel lands at a
// random place of the patch, so every patch holds some of the defect. The mask is cut with the
// image. Sample order and flips come from data/sample_order.hpp, the offsets from Philox draws
// keyed by (seed, position in the sequence): the batches are a function of the batches served,
// and a resumed run seeks to them.

#include <algorithm>
#include <array>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/philox.hpp"
#include "../core/tensor.hpp"
#include "defect_set.hpp"
#include "export/components.hpp"
#include "preprocess.hpp"
#include "sample_order.hpp"

namespace imbdef::data {

// The Philox stream of the patch offsets (plus the position in the sequence), in the data
// pipeline's range of stream ids (data/sample_order.hpp).
inline constexpr std::uint64_t patch_stream = 0x5041ull << 48;            // "PA"
inline constexpr std::uint64_t patch_reference_stream = 0x5052ull << 48;  // "PR"

// One defect image at patch scale.
struct scaled_defect {
    core::tensor<float> image;          // [C, H, W] in [-1, 1]
    core::tensor<std::uint8_t> mask;    // [H, W] {0, 1}
    int class_index = 0;
    pixel_box box;                      // of the mask, half-open (export/components.hpp)
    core::index_t defect_pixels = 0;    // set pixels of the mask
};

namespace patch_detail {

// Along one axis of length n: where a patch of side p starts so that [d0, d1) lies inside it,
// uniformly over the positions that allow it (u in [0, 1)). Requires d1 - d0 <= p <= n.
inline core::index_t containing_start(core::index_t n, core::index_t p, core::index_t d0, core::index_t d1, float u) {
    const core::index_t lo = std::max<core::index_t>(0, d1 - p), hi = std::min(d0, n - p);
    const auto k = static_cast<core::index_t>(static_cast<double>(u) * static_cast<double>(hi - lo + 1));
    return lo + std::min(k, hi - lo);
}

// Along one axis: where a patch of side p starts so that coordinate a lies at a uniformly random
// place inside it, clamped to the image.
inline core::index_t anchored_start(core::index_t n, core::index_t p, core::index_t a, float u) {
    const auto offset = std::min(p - 1, static_cast<core::index_t>(static_cast<double>(u) * static_cast<double>(p)));
    return std::clamp<core::index_t>(a - offset, 0, n - p);
}

}  // namespace patch_detail

// The top-left corner (y, x) of a p x p patch of `d` for the draws u[0..3] in [0, 1) (see the top
// of this file). The patch always holds at least one defect pixel.
inline std::array<core::index_t, 2> patch_origin(const scaled_defect& d, core::index_t p, std::array<float, 4> u) {
    const core::index_t h = d.mask.size(0), w = d.mask.size(1);
    IMBDEF_REQUIRE(h >= p && w >= p && d.defect_pixels > 0, "data::patch_origin",
                   "an image of at least the patch side " + std::to_string(p) + " with a defect",
                   std::to_string(w) + " x " + std::to_string(h) + ", " + std::to_string(d.defect_pixels) + " defect pixels");
    if (d.box.height() <= p && d.box.width() <= p)
        return {patch_detail::containing_start(h, p, d.box.y0, d.box.y1, u[0]), patch_detail::containing_start(w, p, d.box.x0, d.box.x1, u[1])};
    // The anchor: the k-th set pixel in row-major order, k uniform over the defect's pixels.
    const auto k = std::min(d.defect_pixels - 1, static_cast<core::index_t>(static_cast<double>(u[2]) * static_cast<double>(d.defect_pixels)));
    core::index_t seen = 0, ay = 0, ax = 0;
    for (core::index_t q = 0; q < h * w; ++q)
        if (d.mask[q] && seen++ == k) {
            ay = q / w;
            ax = q % w;
            break;
        }
    return {patch_detail::anchored_start(h, p, ay, u[3]), patch_detail::anchored_start(w, p, ax, u[0])};
}

// The samples `which` of `set` at patch scale, decoded in parallel, with the set's channels. An
// image smaller than the patch after scaling, or whose defect vanishes at this scale, is an error
// naming the file.
inline std::vector<scaled_defect> load_scaled_defects(const defect_set& set, const std::vector<std::size_t>& which, const patch_options& o) {
    IMBDEF_REQUIRE(o.size >= 8 && o.size <= preprocess_options::max_resolution, "data::load_scaled_defects", "a patch side in [8, " +
                   std::to_string(preprocess_options::max_resolution) + "]", std::to_string(o.size));
    IMBDEF_REQUIRE(!which.empty(), "data::load_scaled_defects", "at least one defect image", "none");
    std::vector<scaled_defect> out(which.size());
    std::vector<std::exception_ptr> errors(which.size());
    core::parallel_for(0, static_cast<core::index_t>(which.size()), 1, [&](core::index_t lo, core::index_t hi) {
        for (core::index_t j = lo; j < hi; ++j) try {
                const std::size_t i = which[static_cast<std::size_t>(j)];
                IMBDEF_REQUIRE(i < set.samples.size(), "data::load_scaled_defects", "sample indices below " + std::to_string(set.samples.size()),
                               std::to_string(i));
                const defect_sample& s = set.samples[i];
                const auto d = detail::decode_defect(defect_candidate{s.image, s.mask, s.class_index, false});
                scaled_defect& r = out[static_cast<std::size_t>(j)];
                r.image = preprocess_scaled(d.image.pixels, set.preprocess.channels, o.scale, s.image);
                r.mask = preprocess_mask_scaled(d.mask, o.scale, s.mask);
                r.class_index = s.class_index;
                const core::index_t h = r.mask.size(0), w = r.mask.size(1);
                IMBDEF_REQUIRE(h >= o.size && w >= o.size, "defect image " + s.image.string(),
                               "at least the patch side " + std::to_string(o.size) + " px at scale " + std::to_string(o.scale),
                               std::to_string(w) + " x " + std::to_string(h) + " px: a larger --scale, or a smaller patch");
                r.box = {.x0 = w, .y0 = h, .x1 = 0, .y1 = 0};
                for (core::index_t y = 0; y < h; ++y)
                    for (core::index_t x = 0; x < w; ++x)
                        if (r.mask[y * w + x]) {
                            ++r.defect_pixels;
                            r.box = {.x0 = std::min(r.box.x0, x), .y0 = std::min(r.box.y0, y), .x1 = std::max(r.box.x1, x + 1),
                                     .y1 = std::max(r.box.y1, y + 1)};
                        }
                IMBDEF_REQUIRE(r.defect_pixels > 0, "defect mask " + s.mask.string(),
                               "at least one defect pixel at scale " + std::to_string(o.scale), "none: the defect covers under half a pixel");
            } catch (...) {
                errors[static_cast<std::size_t>(j)] = std::current_exception();
            }
    });
    for (const auto& e : errors)
        if (e) std::rethrow_exception(e);
    return out;
}

// Per class, how many defects do not fit in one patch (they train on the patches that cover them).
inline std::vector<std::size_t> defects_larger_than_patch(const std::vector<scaled_defect>& defects, core::index_t p, std::size_t classes) {
    std::vector<std::size_t> out(classes, 0);
    for (const auto& d : defects)
        if (d.box.height() > p || d.box.width() > p) ++out.at(static_cast<std::size_t>(d.class_index));
    return out;
}

namespace patch_detail {

// Patch `row` of images [N, C, P, P] and masks [N, 1, P, P] (masks {-1, +1}) from `d` at (y0, x0).
inline void cut_patch(const scaled_defect& d, core::index_t y0, core::index_t x0, bool flip, core::index_t row, core::view<float> images,
                      core::view<float> masks) {
    const core::index_t c = d.image.size(0), p = images.size(2), plane = p * p, w = d.mask.size(1), hw = d.mask.size(0) * w;
    for (core::index_t y = 0; y < p; ++y)
        for (core::index_t x = 0; x < p; ++x) {
            const core::index_t q = (y0 + y) * w + x0 + (flip ? p - 1 - x : x);
            for (core::index_t k = 0; k < c; ++k) images[(row * c + k) * plane + y * p + x] = d.image[k * hw + q];
            masks[row * plane + y * p + x] = d.mask[q] ? 1.0f : -1.0f;
        }
}

}  // namespace patch_detail

// One fixed patch per defect, in order and unflipped, placed by stream patch_reference_stream + i:
// the same at every call and apart from the training sequence. What a run shows as its real
// defects and measures its samples against.
inline defect_tensors reference_patches(const std::vector<scaled_defect>& defects, core::index_t p, std::uint64_t seed) {
    IMBDEF_REQUIRE(!defects.empty(), "data::reference_patches", "at least one defect", "none");
    const auto n = static_cast<core::index_t>(defects.size());
    const core::index_t c = defects.front().image.size(0);
    defect_tensors out{core::tensor<float>(core::shape{n, c, p, p}), core::tensor<float>(core::shape{n, 1, p, p}), {}};
    for (core::index_t i = 0; i < n; ++i) {
        const scaled_defect& d = defects[static_cast<std::size_t>(i)];
        const core::philox_stream rng{.seed = seed, .stream = patch_reference_stream + static_cast<std::uint64_t>(i)};
        const auto [y0, x0] = patch_origin(d, p, {rng.uniform(0), rng.uniform(1), rng.uniform(2), rng.uniform(3)});
        patch_detail::cut_patch(d, y0, x0, false, i, out.images.view(), out.masks.view());
        out.classes.push_back(d.class_index);
    }
    return out;
}

class defect_patches {
public:
    defect_patches(std::vector<scaled_defect> defects, core::index_t patch, std::uint64_t seed, bool x_flip)
        : defects_(std::move(defects)), patch_(patch), seed_(seed), order_(seed, checked_size(defects_, patch), x_flip) {}

    core::index_t size() const noexcept { return static_cast<core::index_t>(defects_.size()); }
    core::index_t patch() const noexcept { return patch_; }
    std::uint64_t batches_served() const noexcept { return served_; }
    void seek(std::uint64_t batches, core::index_t batch) {
        served_ = batches;
        position_ = batches * static_cast<std::uint64_t>(batch);
    }

    void next(core::view<float> images, core::view<float> masks, std::span<int> classes) {
        const core::index_t n = images.size(0), c = defects_.front().image.size(0), p = patch_;
        IMBDEF_REQUIRE(images.shape() == (core::shape{n, c, p, p}) && masks.shape() == (core::shape{n, 1, p, p}) &&
                           classes.size() == static_cast<std::size_t>(n),
                       "data::defect_patches", "a batch of images [N, " + std::to_string(c) + ", " + std::to_string(p) + ", " +
                           std::to_string(p) + "], masks [N, 1, P, P] and N classes",
                       images.shape().to_string() + ", " + masks.shape().to_string() + ", " + std::to_string(classes.size()) + " classes");
        for (core::index_t i = 0; i < n; ++i) {
            const std::uint64_t position = position_++;
            const sample_slot s = order_.at(position);
            const scaled_defect& d = defects_[static_cast<std::size_t>(s.sample)];
            const core::philox_stream rng{.seed = seed_, .stream = patch_stream + position};
            const auto [y0, x0] = patch_origin(d, p, {rng.uniform(0), rng.uniform(1), rng.uniform(2), rng.uniform(3)});
            classes[static_cast<std::size_t>(i)] = d.class_index;
            patch_detail::cut_patch(d, y0, x0, s.flip, i, images, masks);
        }
        ++served_;
    }

private:
    static core::index_t checked_size(const std::vector<scaled_defect>& d, core::index_t p) {
        IMBDEF_REQUIRE(!d.empty(), "data::defect_patches", "at least one real defect image", "none");
        for (const auto& s : d)
            IMBDEF_REQUIRE(s.image.size(0) == d.front().image.size(0) && s.mask.size(0) >= p && s.mask.size(1) >= p && s.defect_pixels > 0,
                           "data::defect_patches", "images of one channel count, at least the patch side " + std::to_string(p) + ", each with a defect",
                           "an image of " + std::to_string(s.image.size(0)) + " channels, " + std::to_string(s.mask.size(1)) + " x " +
                               std::to_string(s.mask.size(0)) + ", " + std::to_string(s.defect_pixels) + " defect pixels");
        return static_cast<core::index_t>(d.size());
    }

    std::vector<scaled_defect> defects_;
    core::index_t patch_;
    std::uint64_t seed_;
    sample_order order_;
    std::uint64_t position_ = 0, served_ = 0;
};

}  // namespace imbdef::data
