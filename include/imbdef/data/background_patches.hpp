#pragma once
// Stage 1 on native-scale patches: batches of defect-free patches [N, C, P, P] with their valid
// regions [N, 1, P, P] as {-1, +1}, cut from the images at their own scale (times `scale`)
// instead of whole images shrunk to the preset's resolution: the background half of training at
// the detector's resolution (data/defect_patches.hpp is the defect half).
//
//   auto set = data::load_scaled_backgrounds(data::background_sources(folder), options, {.size = 64, .scale = 1.0});
//   data::background_patches batches(std::move(set), seed, /*x_flip=*/true);
//   trainer.step(batches);            // calls next(images, masks)
//
// Every image is decoded once, its valid region found at the file's own resolution by the chosen
// policy (data/valid_region.hpp), then both are resampled by `scale` and kept in memory (a few
// hundred defect-free images of a few hundred pixels: tens of MB). Where a patch goes
// (background_patch_origin): up to 16 uniformly drawn positions, the first whose patch is at
// least half valid region, else the most valid of them; a texture (full-frame region) takes the
// first. Sample order and flips come from data/sample_order.hpp and the positions from Philox
// stream background_patch_stream + position, so the batches are a function of the batches
// served, and seek() resumes them.

#include <algorithm>
#include <array>
#include <cstdint>
#include <exception>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/philox.hpp"
#include "../core/tensor.hpp"
#include "background_set.hpp"
#include "defect_patches.hpp"
#include "preprocess.hpp"
#include "sample_order.hpp"

namespace imbdef::data {

inline constexpr std::uint64_t background_patch_stream = 0x4250ull << 48;            // "BP"
inline constexpr std::uint64_t background_reference_stream = 0x4252ull << 48;        // "BR"

// One defect-free image at patch scale, with the summed-area table of its valid region.
struct scaled_background {
    core::tensor<float> image;           // [C, H, W] in [-1, 1]
    core::tensor<std::uint8_t> valid;    // [H, W] {0, 1}
    std::vector<std::int64_t> integral;  // (H + 1) x (W + 1): valid pixels above and left of each corner

    core::index_t height() const noexcept { return valid.size(0); }
    core::index_t width() const noexcept { return valid.size(1); }
    // Valid pixels of the p x p patch at (y0, x0).
    std::int64_t valid_in(core::index_t y0, core::index_t x0, core::index_t p) const noexcept {
        const core::index_t w1 = width() + 1;
        return integral[static_cast<std::size_t>((y0 + p) * w1 + x0 + p)] - integral[static_cast<std::size_t>(y0 * w1 + x0 + p)] -
               integral[static_cast<std::size_t>((y0 + p) * w1 + x0)] + integral[static_cast<std::size_t>(y0 * w1 + x0)];
    }
};

struct scaled_background_set {
    std::vector<scaled_background> images;
    std::vector<background_source> usable;  // the source of each image
    std::vector<skipped_file> skipped;
    int channels = 0;
};

inline constexpr int background_patch_tries = 16;

// Where the p x p patch of `b` goes for the draws of `rng` (offsets 0 .. 2 * tries - 1).
inline std::array<core::index_t, 2> background_patch_origin(const scaled_background& b, core::index_t p, const core::philox_stream& rng) {
    const core::index_t h = b.height(), w = b.width();
    IMBDEF_REQUIRE(h >= p && w >= p, "data::background_patch_origin", "an image of at least the patch side " + std::to_string(p),
                   std::to_string(w) + " x " + std::to_string(h));
    std::array<core::index_t, 2> best{0, 0};
    std::int64_t best_valid = -1;
    for (int t = 0; t < background_patch_tries; ++t) {
        const auto pick = [&](core::index_t n, std::uint64_t offset) {
            return std::min(n - p, static_cast<core::index_t>(static_cast<double>(rng.uniform(offset)) * static_cast<double>(n - p + 1)));
        };
        const std::array<core::index_t, 2> o{pick(h, 2 * static_cast<std::uint64_t>(t)), pick(w, 2 * static_cast<std::uint64_t>(t) + 1)};
        const std::int64_t v = b.valid_in(o[0], o[1], p);
        if (2 * v >= p * p) return o;
        if (v > best_valid) {
            best_valid = v;
            best = o;
        }
    }
    return best;
}

// Decodes every source once (in parallel), finds its valid region with o.valid_region, resamples
// both by `patch.scale`. o.preprocess.channels 0 follows the data (RGB when any image is). Bad
// files, and images smaller than the patch at this scale, stop it naming the first in list order,
// or with o.skip_bad_files are reported (o.on_skip) and left out. o.preprocess.resolution is not
// used: the patch side is.
inline scaled_background_set load_scaled_backgrounds(const std::vector<background_source>& sources, const background_options& o,
                                                     const patch_options& patch, const std::string& origin = {}) {
    IMBDEF_REQUIRE(patch.size >= 8 && patch.size <= preprocess_options::max_resolution, "data::load_scaled_backgrounds",
                   "a patch side in [8, " + std::to_string(preprocess_options::max_resolution) + "]", std::to_string(patch.size));
    {
        background_options checked = o;  // the checks want a resolution: the patch's
        checked.preprocess.resolution = patch.size;
        detail::check_background_options(sources, checked);
    }
    const std::size_t n = sources.size();
    struct result {
        scaled_background b;
        std::exception_ptr error;
    };
    std::vector<result> results(n);
    core::parallel_for(0, static_cast<core::index_t>(n), 1, [&](core::index_t lo, core::index_t hi) {
        for (auto i = static_cast<std::size_t>(lo); i < static_cast<std::size_t>(hi); ++i) try {
                const auto d = detail::decode_background(sources[i], o);
                scaled_background& b = results[i].b;
                b.image = preprocess_scaled(d.image.pixels, o.preprocess.channels, patch.scale, sources[i].image);
                b.valid = preprocess_mask_scaled(d.valid_region, patch.scale, sources[i].image);
                const core::index_t h = b.height(), w = b.width();
                IMBDEF_REQUIRE(h >= patch.size && w >= patch.size, "background image " + sources[i].image.string(),
                               "at least the patch side " + std::to_string(patch.size) + " px at scale " + std::to_string(patch.scale),
                               std::to_string(w) + " x " + std::to_string(h) + " px: a larger --scale, or a smaller patch");
                b.integral.assign(static_cast<std::size_t>((h + 1) * (w + 1)), 0);
                for (core::index_t y = 0; y < h; ++y)
                    for (core::index_t x = 0; x < w; ++x)
                        b.integral[static_cast<std::size_t>((y + 1) * (w + 1) + x + 1)] =
                            b.valid[y * w + x] + b.integral[static_cast<std::size_t>(y * (w + 1) + x + 1)] +
                            b.integral[static_cast<std::size_t>((y + 1) * (w + 1) + x)] - b.integral[static_cast<std::size_t>(y * (w + 1) + x)];
            } catch (...) {
                results[i] = {};
                results[i].error = std::current_exception();
            }
    });
    scaled_background_set set;
    for (std::size_t i = 0; i < n; ++i)
        if (results[i].error) detail::skip_or_rethrow(results[i].error, sources[i].image, o, set.skipped);
    bool any_colour = false;
    for (std::size_t i = 0; i < n; ++i)
        if (!results[i].error) any_colour = any_colour || results[i].b.image.size(0) == 3;
    set.channels = o.preprocess.channels != 0 ? o.preprocess.channels : (any_colour ? 3 : 1);
    for (std::size_t i = 0; i < n; ++i) {
        if (results[i].error) continue;
        scaled_background b = std::move(results[i].b);
        if (b.image.size(0) != set.channels) {  // grey in a set that needs RGB
            const core::index_t plane = b.height() * b.width();
            core::tensor<float> rgb(core::shape{set.channels, b.height(), b.width()}, core::uninitialized);
            for (int k = 0; k < set.channels; ++k) std::copy(b.image.begin(), b.image.end(), rgb.begin() + k * plane);
            b.image = std::move(rgb);
        }
        set.images.push_back(std::move(b));
        set.usable.push_back(sources[i]);
    }
    IMBDEF_REQUIRE(!set.images.empty(), "background images in " + (origin.empty() ? origin_of(sources) : origin),
                   "at least one usable image of at least the patch side",
                   n == 0 ? std::string("no image files")
                          : "none: all " + std::to_string(n) + " files were skipped, the first for " + set.skipped.front().reason);
    return set;
}

class background_patches {
public:
    background_patches(scaled_background_set set, core::index_t patch, std::uint64_t seed, bool x_flip)
        : set_(std::move(set)), patch_(patch), seed_(seed), order_(seed, checked_size(set_, patch), x_flip) {}

    core::index_t size() const noexcept { return static_cast<core::index_t>(set_.images.size()); }
    int channels() const noexcept { return set_.channels; }
    core::index_t patch() const noexcept { return patch_; }
    const scaled_background_set& set() const noexcept { return set_; }
    std::uint64_t batches_served() const noexcept { return served_; }
    void seek(std::uint64_t batches, core::index_t batch) {
        served_ = batches;
        position_ = batches * static_cast<std::uint64_t>(batch);
    }

    // images [N, C, P, P] in [-1, 1]; masks [N, 1, P, P] as {-1, +1}, or empty to discard them.
    void next(core::view<float> images, core::view<float> masks) {
        const core::index_t n = images.size(0), c = set_.channels, p = patch_, plane = p * p;
        IMBDEF_REQUIRE(images.shape() == (core::shape{n, c, p, p}) && (masks.empty() || masks.shape() == (core::shape{n, 1, p, p})),
                       "data::background_patches", "images [N, " + std::to_string(c) + ", " + std::to_string(p) + ", " + std::to_string(p) +
                           "] and masks [N, 1, P, P] (or none)",
                       images.shape().to_string() + ", " + masks.shape().to_string());
        for (core::index_t i = 0; i < n; ++i) {
            const std::uint64_t position = position_++;
            const sample_slot s = order_.at(position);
            const scaled_background& b = set_.images[static_cast<std::size_t>(s.sample)];
            const auto [y0, x0] = background_patch_origin(b, p, core::philox_stream{.seed = seed_, .stream = background_patch_stream + position});
            const core::index_t w = b.width(), hw = b.height() * w;
            for (core::index_t y = 0; y < p; ++y)
                for (core::index_t x = 0; x < p; ++x) {
                    const core::index_t q = (y0 + y) * w + x0 + (s.flip ? p - 1 - x : x);
                    for (core::index_t k = 0; k < c; ++k) images[(i * c + k) * plane + y * p + x] = b.image[k * hw + q];
                    if (!masks.empty()) masks[i * plane + y * p + x] = b.valid[q] ? 1.0f : -1.0f;
                }
        }
        ++served_;
    }

    // A fixed reference set, the same at every call and apart from the training sequence: patch i
    // of image i mod size(), unflipped, placed by stream background_reference_stream + i. What a
    // run measures its generator against (SWD) and shows as its real samples.
    void reference(core::view<float> images, core::view<float> masks) const {
        const core::index_t n = images.size(0), c = set_.channels, p = patch_, plane = p * p;
        IMBDEF_REQUIRE(images.shape() == (core::shape{n, c, p, p}) && masks.shape() == (core::shape{n, 1, p, p}),
                       "data::background_patches::reference", "images [N, " + std::to_string(c) + ", P, P] and masks [N, 1, P, P]",
                       images.shape().to_string() + ", " + masks.shape().to_string());
        for (core::index_t i = 0; i < n; ++i) {
            const scaled_background& b = set_.images[static_cast<std::size_t>(i % size())];
            const auto [y0, x0] = background_patch_origin(
                b, p, core::philox_stream{.seed = seed_, .stream = background_reference_stream + static_cast<std::uint64_t>(i)});
            const core::index_t w = b.width(), hw = b.height() * w;
            for (core::index_t y = 0; y < p; ++y)
                for (core::index_t x = 0; x < p; ++x) {
                    const core::index_t q = (y0 + y) * w + x0 + x;
                    for (core::index_t k = 0; k < c; ++k) images[(i * c + k) * plane + y * p + x] = b.image[k * hw + q];
                    masks[i * plane + y * p + x] = b.valid[q] ? 1.0f : -1.0f;
                }
        }
    }

private:
    static core::index_t checked_size(const scaled_background_set& s, core::index_t p) {
        IMBDEF_REQUIRE(!s.images.empty(), "data::background_patches", "at least one background image", "none");
        for (const auto& b : s.images)
            IMBDEF_REQUIRE(b.image.size(0) == s.channels && b.height() >= p && b.width() >= p, "data::background_patches",
                           std::to_string(s.channels) + "-channel images of at least the patch side " + std::to_string(p),
                           "an image of " + std::to_string(b.image.size(0)) + " channels, " + std::to_string(b.width()) + " x " +
                               std::to_string(b.height()));
        return static_cast<core::index_t>(s.images.size());
    }

    scaled_background_set set_;
    core::index_t patch_;
    std::uint64_t seed_;
    sample_order order_;
    std::uint64_t position_ = 0, served_ = 0;
};

}  // namespace imbdef::data
