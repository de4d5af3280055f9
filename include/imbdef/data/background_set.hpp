#pragma once
// The defect-free images of stage 1 and their valid regions, decoded and preprocessed: the source
// list, the per-sample pipeline (decode, valid region at the file's own resolution, preprocess),
// and the up-front pass that finds the usable samples before anything trains.
//
// Why up front: the sample order is a permutation of the usable samples (sample_order.hpp), so the
// set must be known, and fixed, before the first batch. A bad file (unreadable, truncated, corrupt,
// an unreadable valid-region file) either stops everything with an error naming the first such
// file in list order, or, when skip_bad_files is set, is reported (callback and list) and left out.
//
// Channels under preprocess_options::channels == 0 ("follow the data") are those of the usable
// files: 1 when every one is grey, else 3 (grey files expanded).
//
// load_background_set() returns the whole set as one tensor, for metrics (the real images of SWD).

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"
#include "image_io.hpp"
#include "layouts.hpp"
#include "preprocess.hpp"
#include "valid_region.hpp"

namespace imbdef::data {

struct background_source {
    std::filesystem::path image;
    // The valid-region mask file of this image, read under from_files; when empty, from_files asks
    // its own mask_path function. Ignored by the other policies.
    std::filesystem::path valid_region{};
};

// The default (a default-constructed variant) is automatic: Otsu foreground with its full-frame
// fallback for textures. from_files::mask_path, when used, may be called from several threads.
using valid_region_choice = std::variant<otsu_foreground, full_frame, from_files>;

struct skipped_file {
    std::filesystem::path path;
    std::string reason;  // the error's message, naming the file
};

struct background_options {
    preprocess_options preprocess{};
    valid_region_choice valid_region{};
    bool skip_bad_files = false;
    // Called once per skipped file, in list order, before the constructor or load returns.
    std::function<void(const skipped_file&)> on_skip{};
};

// The sources of a list of image files, of a dataset's defect-free samples, or of a folder (its
// image files, or, when it holds none, the defect-free samples of the dataset layout found there).
inline std::vector<background_source> background_sources(const std::vector<std::filesystem::path>& images) {
    std::vector<background_source> out;
    out.reserve(images.size());
    for (const auto& p : images) out.push_back({p, {}});
    return out;
}

// A dataset's defect-free training samples: those of its "train" split when it has one (MVTec AD
// keeps test/good for evaluation, so it must not leak into training), else all defect-free ones
// (Magnetic Tile has no splits).
inline std::vector<background_source> background_sources(const dataset_index& index) {
    const auto good = index.good();
    const bool has_train = std::any_of(good.begin(), good.end(), [](const sample_record& r) { return r.split == "train"; });
    std::vector<background_source> out;
    for (const auto& r : good)
        if (!has_train || r.split == "train") out.push_back({r.image, {}});
    return out;
}

inline std::vector<background_source> background_sources(const std::filesystem::path& folder) {
    detail::require_folder(folder, "background images");
    auto images = detail::images_in(folder);
    if (!images.empty()) return background_sources(images);
    if (detail::subfolders(folder).empty()) return {};  // reported as "no image files" by the loader
    return background_sources(scan_dataset(folder));
}

// Where a set of sources comes from, for messages: their common folder.
inline std::string origin_of(const std::vector<background_source>& sources) {
    if (sources.empty()) return "an empty file list";
    const auto first = sources.front().image.parent_path();
    for (const auto& s : sources)
        if (s.image.parent_path() != first) return first.string() + " and other folders";
    return first.string();
}

namespace detail {

inline std::filesystem::path valid_region_path_of(const background_source& s, const background_options& o) {
    if (!std::holds_alternative<from_files>(o.valid_region) || !s.valid_region.empty()) return s.valid_region;
    return std::get<from_files>(o.valid_region).mask_path(s.image);
}

// A configuration error, not a bad file: thrown before any file is read.
inline void check_background_options(const std::vector<background_source>& sources, const background_options& o) {
    validate(o.preprocess);
    if (const auto* f = std::get_if<from_files>(&o.valid_region); f && !f->mask_path)
        for (const auto& s : sources)
            IMBDEF_REQUIRE(!s.valid_region.empty(), "background image " + s.image.string(),
                           "a valid-region mask file (background_source::valid_region, or from_files::mask_path)",
                           "neither");
}

// A file that failed: rethrown when bad files stop the load (the first in list order, as the
// callers visit them), else recorded with its reason and reported through on_skip.
inline void skip_or_rethrow(const std::exception_ptr& error, const std::filesystem::path& file, const background_options& o,
                            std::vector<skipped_file>& skipped) {
    if (!o.skip_bad_files) std::rethrow_exception(error);
    skipped.push_back({file, message_of(error)});
    if (o.on_skip) o.on_skip(skipped.back());
}

struct decoded_background {
    data::image image;
    mask_u8 valid_region;  // at the file's own resolution
};

// Decodes one source and finds its valid region on the full-resolution image (the policies'
// radii and thresholds are in the file's pixels).
inline decoded_background decode_background(const background_source& s, const background_options& o) {
    decoded_background d{read_image(s.image), {}};
    const valid_region_input in{d.image.pixels, s.image};
    if (std::holds_alternative<from_files>(o.valid_region)) {
        const std::filesystem::path p = valid_region_path_of(s, o);
        d.valid_region = from_files{[&p](const std::filesystem::path&) { return p; }}(in);
    } else {
        d.valid_region = std::visit([&](const auto& policy) { return policy(in); }, o.valid_region);
    }
    return d;
}

// Decodes and preprocesses one source to `channels`: image [channels, R, R], mask [R, R] {0, 1}.
inline void prepare_background_sample(const background_source& s, const background_options& o, int channels,
                                      core::view<float> image, core::view<std::uint8_t> mask) {
    const decoded_background d = decode_background(s, o);
    preprocess_options pre = o.preprocess;
    pre.channels = channels;
    preprocess_image(d.image.pixels, pre, image, s.image);
    preprocess_mask(d.valid_region, pre, mask, s.image);
}

// The usable samples of a source list, with the preprocessed tensors of those among the first
// `keep` sources (the cache); the rest are decoded once to prove them readable, then dropped.
struct prepared_set {
    std::vector<background_source> usable;
    std::vector<skipped_file> skipped;
    int channels = 0;
    std::vector<core::tensor<float>> images;          // [C, R, R] per usable sample, empty if not kept
    std::vector<core::tensor<std::uint8_t>> masks;    // [R, R] per usable sample, empty if not kept
};

inline prepared_set prepare_background_set(const std::vector<background_source>& sources, const background_options& o,
                                           std::size_t keep, const std::string& origin) {
    check_background_options(sources, o);
    const core::index_t r = o.preprocess.resolution;
    const std::size_t n = sources.size();

    struct result {
        core::tensor<float> image;
        core::tensor<std::uint8_t> mask;
        int colour = 0;
        std::exception_ptr error;
    };
    std::vector<result> results(n);
    // Without skipping, files after the first bad one need not be read; files before it all are,
    // so the file reported is the first bad one in list order whatever the thread count.
    std::atomic<std::size_t> first_bad{std::numeric_limits<std::size_t>::max()};
    core::parallel_for(0, static_cast<core::index_t>(n), 1, [&](core::index_t lo, core::index_t hi) {
        for (auto i = static_cast<std::size_t>(lo); i < static_cast<std::size_t>(hi); ++i) {
            if (!o.skip_bad_files && i > first_bad.load(std::memory_order_relaxed)) return;
            result& res = results[i];
            try {
                const decoded_background d = decode_background(sources[i], o);
                const int file_channels = d.image.info.channels;
                const int c = preprocessed_channels(o.preprocess, file_channels, sources[i].image);
                res.colour = preprocessed_channels(preprocess_options{r, 0, o.preprocess.square, {}}, file_channels);
                res.image = core::tensor<float>(core::shape{c, r, r}, core::uninitialized);
                res.mask = core::tensor<std::uint8_t>(core::shape{r, r}, core::uninitialized);
                preprocess_image(d.image.pixels, o.preprocess, res.image.view(), sources[i].image);
                preprocess_mask(d.valid_region, o.preprocess, res.mask.view(), sources[i].image);
                if (i >= keep) {
                    res.image = {};
                    res.mask = {};
                }
            } catch (...) {
                res = {};
                res.error = std::current_exception();
                std::size_t seen = first_bad.load(std::memory_order_relaxed);
                while (i < seen && !first_bad.compare_exchange_weak(seen, i, std::memory_order_relaxed)) {
                }
            }
        }
    });

    prepared_set set;
    for (std::size_t i = 0; i < n; ++i)
        if (results[i].error) skip_or_rethrow(results[i].error, sources[i].image, o, set.skipped);

    bool any_colour = false;
    for (std::size_t i = 0; i < n; ++i) {
        if (results[i].error) continue;
        set.usable.push_back(sources[i]);
        any_colour = any_colour || results[i].colour == 3;
    }
    IMBDEF_REQUIRE(!set.usable.empty(), "background images in " + origin, "at least one usable image",
                   n == 0 ? std::string("no image files")
                          : "none: all " + std::to_string(n) + " files were skipped, the first for " +
                                set.skipped.front().reason);
    set.channels = o.preprocess.channels != 0 ? o.preprocess.channels : (any_colour ? 3 : 1);

    for (std::size_t i = 0; i < n; ++i) {
        if (results[i].error) continue;
        core::tensor<float> image = std::move(results[i].image);
        if (!image.empty() && image.size(0) != set.channels) {  // grey in a set that needs RGB
            core::tensor<float> rgb(core::shape{set.channels, r, r}, core::uninitialized);
            for (int k = 0; k < set.channels; ++k) std::copy(image.begin(), image.end(), rgb.begin() + k * r * r);
            image = std::move(rgb);
        }
        set.images.push_back(std::move(image));
        set.masks.push_back(std::move(results[i].mask));
    }
    return set;
}

}  // namespace detail

// The whole set, in list order, unflipped.
struct background_set {
    core::tensor<float> images;  // [n, C, R, R] in [-1, 1]
    core::tensor<float> masks;   // [n, 1, R, R], valid region as {-1, +1}
    std::vector<std::filesystem::path> files;
    std::vector<skipped_file> skipped;
};

inline background_set load_background_set(const std::vector<background_source>& sources, const background_options& o,
                                          const std::string& origin = {}) {
    auto set = detail::prepare_background_set(sources, o, sources.size(), origin.empty() ? origin_of(sources) : origin);
    const core::index_t n = static_cast<core::index_t>(set.usable.size()), r = o.preprocess.resolution;
    background_set out;
    out.images = core::tensor<float>(core::shape{n, set.channels, r, r}, core::uninitialized);
    out.masks = core::tensor<float>(core::shape{n, 1, r, r}, core::uninitialized);
    for (core::index_t i = 0; i < n; ++i) {
        const auto& im = set.images[static_cast<std::size_t>(i)];
        const auto& m = set.masks[static_cast<std::size_t>(i)];
        std::copy(im.begin(), im.end(), out.images.begin() + i * im.numel());
        std::transform(m.begin(), m.end(), out.masks.begin() + i * m.numel(),
                       [](std::uint8_t b) { return b ? 1.0f : -1.0f; });
        out.files.push_back(set.usable[static_cast<std::size_t>(i)].image);
    }
    out.skipped = std::move(set.skipped);
    return out;
}

inline background_set load_background_set(const std::filesystem::path& folder, const background_options& o) {
    return load_background_set(background_sources(folder), o, folder.string());
}

}  // namespace imbdef::data
