#pragma once
// The defect images of stage 2: each with its exact mask and its class, checked once up front,
// split by the literature's protocol, and preprocessed into the tensors the defect branch trains
// on (docs/data.md, "Defect sets").
//
// Two steps. list_defects() finds the candidates on disk without decoding anything (layout,
// class names, image and mask paths); open_defect_set() decodes every candidate once, in parallel,
// and keeps the usable ones, measuring each mask at the training resolution. Layouts:
//   MVTec AD          <root>/test/<class>/<name>.<ext>, mask <root>/ground_truth/<class>/<name>_mask.png;
//                     test/good is defect-free and left out;
//   Magnetic Tile     <root>/MT_<Class>/Imgs/<name>.jpg with its mask <name>.png beside it; the class
//                     is <Class> as spelled on disk; MT_Free is defect-free and left out;
//   image + mask folders
//                     <root>/images/<name>.<ext> with <root>/masks/<name>.<any image ext>, or one
//                     level of sub-folders <root>/images/<sub>/ with <root>/masks/<sub>/, or split
//                     folders <root>/<split>/images + masks (the MPDD copy: train, val, test). The
//                     class is the root's folder name (files directly in images/) or the sub-folder's
//                     name, unless <root>/classes.txt says otherwise. Here an all-zero mask marks a
//                     defect-free image: it is counted in defect_free, not a sample.
//
// classes.txt: one `<key> <class>` per line, `#` comments and blank lines ignored. The key is an
// image's path under images/ ("007.png", "rust/007.png") or a sub-folder with a trailing slash
// ("rust/"); the class is the rest of the line, trimmed. A file's own line wins over its folder's.
// When the file exists every image must be covered and every key must match an image, so a typo is
// an error, not a silently merged class.
//
// Checks, each an imbdef::error naming the file: an unreadable image or mask (missing, truncated,
// corrupt), a mask whose size differs from its image, an all-zero mask of a defect image, a mask
// left empty by the crop and resize to the training resolution (the defect lies outside the centred
// square, or is under half a pixel), and a class with no usable image. With skip_bad_files, a bad
// file is reported (callback and `skipped`, in list order) and left out; a class left empty is
// still an error, because the model's class count must not change silently.
//
// Masks are preprocessed by preprocess_mask: the image's own crop or pad, then area coverage
// thresholded at one half. Area, not nearest: each output pixel is set when at least half of it is
// defect, so the mask's area and edge stay within half a pixel of the file's at any scale, where
// nearest would keep or drop a thin crack depending on where the sample grid falls. In the tensors
// the mask is {-1, +1} (DFMGAN's convention) and the image [-1, 1].

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/parallel.hpp"
#include "../core/tensor.hpp"
#include "background_set.hpp"
#include "image_io.hpp"
#include "layouts.hpp"
#include "preprocess.hpp"

namespace imbdef::data {

namespace fs = std::filesystem;

// A defect image found on disk, not yet decoded.
struct defect_candidate {
    fs::path image;
    fs::path mask;                    // where its mask is (or would be: a missing one is found when checked)
    int class_index = 0;
    bool empty_mask_is_good = false;  // image + mask folders: an all-zero mask marks a defect-free image
};

struct defect_listing {
    layout_kind layout = layout_kind::mvtec;
    fs::path root;
    std::vector<std::string> class_names;       // sorted, so an index is the same on every machine
    std::vector<defect_candidate> candidates;   // sorted by image path
};

namespace detail {

struct raw_candidate {
    fs::path image, mask;
    std::string class_name;
    bool empty_mask_is_good = false;
};

inline defect_listing finish_listing(layout_kind layout, const fs::path& root, std::vector<raw_candidate> raw,
                                     std::vector<std::string> names) {
    for (const auto& r : raw) names.push_back(r.class_name);
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    defect_listing out{layout, root, std::move(names), {}};
    for (auto& r : raw) {
        const auto it = std::lower_bound(out.class_names.begin(), out.class_names.end(), r.class_name);
        out.candidates.push_back({std::move(r.image), std::move(r.mask),
                                  static_cast<int>(it - out.class_names.begin()), r.empty_mask_is_good});
    }
    std::sort(out.candidates.begin(), out.candidates.end(),
              [](const defect_candidate& a, const defect_candidate& b) { return a.image < b.image; });
    for (std::size_t k = 0; k < out.class_names.size(); ++k) {
        const bool any = std::any_of(out.candidates.begin(), out.candidates.end(),
                                     [&](const defect_candidate& c) { return c.class_index == static_cast<int>(k); });
        IMBDEF_REQUIRE(any, "defect class " + out.class_names[k] + " in " + root.string(), "at least one image",
                       "none");
    }
    IMBDEF_REQUIRE(!out.candidates.empty(), "defect images in " + root.string(), "at least one defect image", "none");
    return out;
}

inline defect_listing list_mvtec_defects(const fs::path& root) {
    require_folder(root / "test", "MVTec AD: test/<defect>");
    require_folder(root / "ground_truth", "MVTec AD: ground_truth/<defect>");
    std::vector<raw_candidate> raw;
    std::vector<std::string> names;
    for (const auto& dir : subfolders(root / "test")) {
        const std::string name = dir.filename().string();
        if (name == "good") continue;
        names.push_back(name);  // an empty folder is still a class, reported as one with no images
        for (const auto& p : images_in(dir))
            raw.push_back({p, root / "ground_truth" / name / (p.stem().string() + "_mask.png"), name, false});
    }
    return finish_listing(layout_kind::mvtec, root, std::move(raw), std::move(names));
}

inline defect_listing list_magnetic_tile_defects(const fs::path& root) {
    require_folder(root, "Magnetic Tile root");
    std::vector<raw_candidate> raw;
    std::vector<std::string> names;
    for (const auto& dir : subfolders(root)) {
        const std::string folder = dir.filename().string();
        if (folder.rfind("MT_", 0) != 0 || !fs::is_directory(dir / "Imgs") || folder == "MT_Free") continue;
        const std::string name = folder.substr(3);
        names.push_back(name);
        for (const auto& p : images_in(dir / "Imgs")) {
            if (p.extension() != ".jpg") continue;  // the .png beside it is the mask
            fs::path mask = p;
            mask.replace_extension(".png");
            raw.push_back({p, mask, name, false});
        }
    }
    return finish_listing(layout_kind::magnetic_tile, root, std::move(raw), std::move(names));
}

// classes.txt as key -> class, with the line each came from and whether an image used it.
struct class_map_entry {
    std::string class_name;
    int line = 0;
    bool used = false;
};

inline std::map<std::string, class_map_entry> read_class_map(const fs::path& file) {
    std::ifstream in(file);
    IMBDEF_REQUIRE(in.good(), "classes file " + file.string(), "a readable file", "it cannot be opened");
    std::map<std::string, class_map_entry> out;
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#') continue;
        const auto key_end = line.find_first_of(" \t", first);
        const auto cls = key_end == std::string::npos ? std::string::npos : line.find_first_not_of(" \t", key_end);
        const std::string where = "classes file " + file.string() + " line " + std::to_string(n);
        IMBDEF_REQUIRE(cls != std::string::npos, where, "'<image or folder/> <class>'", "'" + line + "'");
        std::string key = line.substr(first, key_end - first);
        std::string name = line.substr(cls);
        name.erase(name.find_last_not_of(" \t") + 1);
        const auto [it, fresh] = out.emplace(key, class_map_entry{name, n, false});
        IMBDEF_REQUIRE(fresh, where, "each key once", "'" + key + "' again (first on line " + std::to_string(it->second.line) + ")");
    }
    return out;
}

// The pairs of one images/ folder (and of its sub-folders, one level), keyed by their path under
// images/ for classes.txt.
inline void list_pairs(const fs::path& images, const fs::path& masks, const std::string& prefix,
                       const std::string& default_class, std::vector<std::pair<std::string, raw_candidate>>& out,
                       std::vector<std::string>& names, bool top) {
    require_folder(images, "images");
    require_folder(masks, "masks");
    std::map<std::string, fs::path> by_stem;
    for (const auto& m : images_in(masks)) by_stem.emplace(m.stem().string(), m);  // sorted: .bmp before .png
    const auto files = images_in(images);
    if (!top || !files.empty()) names.push_back(default_class);
    for (const auto& p : files) {
        const auto it = by_stem.find(p.stem().string());
        const fs::path mask = it != by_stem.end() ? it->second : masks / (p.stem().string() + ".png");
        out.push_back({prefix + p.filename().string(), {p, mask, default_class, true}});
    }
    if (top)
        for (const auto& sub : subfolders(images)) {
            const std::string name = sub.filename().string();
            list_pairs(sub, masks / name, prefix + name + "/", name, out, names, false);
        }
}

inline defect_listing list_folder_defects(const fs::path& root) {
    require_folder(root, "image + mask folders");
    std::vector<std::pair<std::string, raw_candidate>> keyed;
    std::vector<std::string> names;
    if (fs::is_directory(root / "images")) {
        list_pairs(root / "images", root / "masks", "", root.filename().string(), keyed, names, true);
    } else {
        for (const auto& split : subfolders(root))
            if (fs::is_directory(split / "images"))
                list_pairs(split / "images", split / "masks", "", root.filename().string(), keyed, names, true);
    }
    IMBDEF_REQUIRE(!keyed.empty() || !names.empty(), "dataset " + root.string(),
                   "images/ and masks/ folders, or split folders holding them", "none");
    std::vector<raw_candidate> raw;
    const fs::path classes_file = root / "classes.txt";
    if (!fs::exists(classes_file)) {
        for (auto& [key, c] : keyed) raw.push_back(std::move(c));
        return finish_listing(layout_kind::image_mask_folders, root, std::move(raw), std::move(names));
    }
    auto map = read_class_map(classes_file);
    for (auto& [key, c] : keyed) {
        auto it = map.find(key);
        if (it == map.end()) {
            const auto slash = key.rfind('/');
            if (slash != std::string::npos) it = map.find(key.substr(0, slash + 1));
        }
        IMBDEF_REQUIRE(it != map.end(), "defect image " + c.image.string(),
                       "a line for '" + key + "' (or its folder) in " + classes_file.string(), "none");
        it->second.used = true;
        c.class_name = it->second.class_name;
        raw.push_back(std::move(c));
    }
    for (const auto& [key, e] : map)
        IMBDEF_REQUIRE(e.used, "classes file " + classes_file.string() + " line " + std::to_string(e.line),
                       "a key naming an image or folder under images/", "'" + key + "', which names none");
    return finish_listing(layout_kind::image_mask_folders, root, std::move(raw), {});
}

// Which layout a folder holds, by the same signs scan_dataset reads, for the defect side: MVTec AD
// needs test/ and ground_truth/ (train/good is not needed for defects).
inline layout_kind detect_defect_layout(const fs::path& root) {
    require_folder(root, "a dataset");
    if (fs::is_directory(root / "ground_truth") || fs::is_directory(root / "train" / "good")) return layout_kind::mvtec;
    for (const auto& d : subfolders(root))
        if (d.filename().string().rfind("MT_", 0) == 0 && fs::is_directory(d / "Imgs")) return layout_kind::magnetic_tile;
    if (fs::is_directory(root / "images")) return layout_kind::image_mask_folders;
    for (const auto& d : subfolders(root))
        if (fs::is_directory(d / "images")) return layout_kind::image_mask_folders;
    throw imbdef::error("dataset " + root.string(),
                        "an MVTec AD category, Magnetic Tile classes, or images/ and masks/ folders", "none of them");
}

}  // namespace detail

// The defect candidates of a dataset folder, in the layout found there, or in `layout` when given.
inline defect_listing list_defects(const fs::path& root, std::optional<layout_kind> layout = std::nullopt) {
    const layout_kind kind = layout ? *layout : detail::detect_defect_layout(root);
    switch (kind) {
        case layout_kind::mvtec: return detail::list_mvtec_defects(root);
        case layout_kind::magnetic_tile: return detail::list_magnetic_tile_defects(root);
        case layout_kind::image_mask_folders: return detail::list_folder_defects(root);
    }
    throw imbdef::error("defect layout of " + root.string(), "mvtec, image_mask_folders or magnetic_tile",
                        "layout_kind " + std::to_string(static_cast<int>(kind)));
}

struct defect_set_options {
    // The training geometry; resolution is required, since masks are measured at it. channels 0
    // follows the data: 3 when any usable image is in colour, else 1.
    preprocess_options preprocess{};
    // With center_crop, each defect's square is centred on its mask's bounding box (shifted to stay
    // inside the image) instead of the image's centre: a crop never loses a defect near an edge,
    // and, unlike pad_edge, adds no smeared frame that defect-free images (centre-cropped in stage
    // 1) do not have.
    bool crop_around_defect = true;
    std::optional<layout_kind> layout{};  // the layout when detection should not decide
    // Native-scale patches (data/defect_patches.hpp): each image and mask is checked at
    // patch.scale instead of the square at the resolution (the image at least patch.size a side,
    // a defect pixel left), and area_fraction is the share of a patch the defect covers,
    // min(defect pixels, size^2) / size^2.
    std::optional<patch_options> patch{};
    bool skip_bad_files = false;
    // Called once per skipped file, in list order, before open_defect_set returns.
    std::function<void(const skipped_file&)> on_skip{};
};

struct defect_sample {
    fs::path image, mask;
    int class_index = 0;
    double area_fraction = 0;  // set pixels of the preprocessed mask / R^2, in (0, 1]
};

struct defect_set {
    layout_kind layout = layout_kind::mvtec;
    fs::path root;
    std::vector<std::string> class_names;  // sorted
    std::vector<defect_sample> samples;    // by class, then file name (then path)
    std::vector<skipped_file> skipped;     // with skip_bad_files, in list order
    std::vector<fs::path> defect_free;     // images whose all-zero mask marks them defect-free
    preprocess_options preprocess{};       // as given, with channels resolved to 1 or 3
    bool crop_around_defect = true;        // as given in defect_set_options

    // Usable samples per class, indexed like class_names.
    std::vector<std::size_t> counts() const {
        std::vector<std::size_t> out(class_names.size(), 0);
        for (const auto& s : samples) ++out[static_cast<std::size_t>(s.class_index)];
        return out;
    }
};

namespace detail {

inline std::string size_text(const xt::xtensor<float, 3>& px) {
    return std::to_string(px.shape()[1]) + " x " + std::to_string(px.shape()[0]);
}

struct decoded_defect {
    data::image image;
    mask_u8 mask;  // 0/255 at the file's resolution; all zero only when empty_mask_is_good allowed it
    bool defect_free = false;
};

// Decodes a candidate and checks everything that can be checked at the file's own resolution.
inline decoded_defect decode_defect(const defect_candidate& c) {
    decoded_defect d{read_image(c.image), {}, false};
    std::error_code ec;
    IMBDEF_REQUIRE(fs::is_regular_file(c.mask, ec), "defect image " + c.image.string(), "its mask " + c.mask.string(),
                   "no such file");
    d.mask = read_mask(c.mask);
    const std::size_t h = d.image.pixels.shape()[0], w = d.image.pixels.shape()[1];
    IMBDEF_REQUIRE(d.mask.shape()[0] == h && d.mask.shape()[1] == w, "defect mask " + c.mask.string(),
                   "the size of its image " + c.image.string() + ", " + size_text(d.image.pixels),
                   std::to_string(d.mask.shape()[1]) + " x " + std::to_string(d.mask.shape()[0]));
    const bool any = std::any_of(d.mask.begin(), d.mask.end(), [](std::uint8_t v) { return v != 0; });
    if (!any && c.empty_mask_is_good) {
        d.defect_free = true;
        return d;
    }
    IMBDEF_REQUIRE(any, "defect mask " + c.mask.string(), "at least one defect pixel (>= 128) for a defect image",
                   "an all-zero mask");
    return d;
}

// The geometry of one defect: with crop_around_defect, centred on its mask's bounding box.
inline preprocess_options framing(const preprocess_options& o, bool crop_around_defect, const mask_u8& mask) {
    preprocess_options out = o;
    if (!crop_around_defect || o.square != square_mode::center_crop) return out;
    const auto h = static_cast<core::index_t>(mask.shape()[0]), w = static_cast<core::index_t>(mask.shape()[1]);
    core::index_t y0 = h, y1 = -1, x0 = w, x1 = -1;
    for (core::index_t y = 0; y < h; ++y)
        for (core::index_t x = 0; x < w; ++x)
            if (mask(static_cast<std::size_t>(y), static_cast<std::size_t>(x)) >= 128)
                y0 = std::min(y0, y), y1 = std::max(y1, y), x0 = std::min(x0, x), x1 = std::max(x1, x);
    if (y1 >= 0) out.focus = std::array<core::index_t, 2>{(y0 + y1 + 1) / 2, (x0 + x1 + 1) / 2};
    return out;
}

// The mask at the training geometry, uint8 {0, 1}; throws when nothing of the defect is left.
inline core::tensor<std::uint8_t> training_mask(const decoded_defect& d, const defect_candidate& c,
                                                const preprocess_options& o) {
    core::tensor<std::uint8_t> m = preprocess_mask(d.mask, o, c.mask);
    const bool any = std::any_of(m.begin(), m.end(), [](std::uint8_t v) { return v != 0; });
    IMBDEF_REQUIRE(any, "defect mask " + c.mask.string() + " at resolution " + std::to_string(o.resolution),
                   "at least one defect pixel after the crop or pad and the resize",
                   "none (the defect lies outside the square or covers under half an output pixel)");
    return m;
}

// Under patches: the checks at patch scale and the share of a patch the defect covers.
inline double patch_area(const decoded_defect& d, const defect_candidate& c, const patch_options& p) {
    const core::tensor<std::uint8_t> m = preprocess_mask_scaled(d.mask, p.scale, c.mask);
    IMBDEF_REQUIRE(m.size(0) >= p.size && m.size(1) >= p.size, "defect image " + c.image.string(),
                   "at least the patch side " + std::to_string(p.size) + " px at scale " + std::to_string(p.scale),
                   std::to_string(m.size(1)) + " x " + std::to_string(m.size(0)) + " px: a larger --scale, or a smaller patch");
    const auto set = static_cast<core::index_t>(std::count(m.begin(), m.end(), std::uint8_t{1}));
    IMBDEF_REQUIRE(set > 0, "defect mask " + c.mask.string() + " at scale " + std::to_string(p.scale), "at least one defect pixel",
                   "none (the defect covers under half a pixel)");
    return static_cast<double>(std::min(set, p.size * p.size)) / static_cast<double>(p.size * p.size);
}

}  // namespace detail

// Decodes and checks every candidate (in parallel); the usable ones become the set. Without
// skip_bad_files the first bad file in list order stops it, whatever the thread count.
inline defect_set open_defect_set(const defect_listing& listing, const defect_set_options& o) {
    validate(o.preprocess);
    const std::size_t n = listing.candidates.size();
    const core::index_t r = o.preprocess.resolution;
    struct result {
        double area = 0;
        int colour = 0;
        bool defect_free = false;
        std::exception_ptr error;
    };
    std::vector<result> results(n);
    std::atomic<std::size_t> first_bad{std::numeric_limits<std::size_t>::max()};
    core::parallel_for(0, static_cast<core::index_t>(n), 1, [&](core::index_t lo, core::index_t hi) {
        for (auto i = static_cast<std::size_t>(lo); i < static_cast<std::size_t>(hi); ++i) {
            if (!o.skip_bad_files && i > first_bad.load(std::memory_order_relaxed)) return;
            const defect_candidate& c = listing.candidates[i];
            result& res = results[i];
            try {
                const auto d = detail::decode_defect(c);
                res.colour = preprocessed_channels(preprocess_options{r, 0, o.preprocess.square, {}},
                                                   static_cast<int>(d.image.pixels.shape()[2]), c.image);
                if (d.defect_free) {
                    res.defect_free = true;
                    continue;
                }
                if (o.patch) {
                    res.area = detail::patch_area(d, c, *o.patch);
                    continue;
                }
                const auto m = detail::training_mask(d, c, detail::framing(o.preprocess, o.crop_around_defect, d.mask));
                const auto set = std::count(m.begin(), m.end(), std::uint8_t{1});
                res.area = static_cast<double>(set) / static_cast<double>(r * r);
            } catch (...) {
                res = {};
                res.error = std::current_exception();
                std::size_t seen = first_bad.load(std::memory_order_relaxed);
                while (i < seen && !first_bad.compare_exchange_weak(seen, i, std::memory_order_relaxed)) {
                }
            }
        }
    });

    defect_set set;
    set.layout = listing.layout;
    set.root = listing.root;
    set.class_names = listing.class_names;
    std::vector<std::string> first_reason(listing.class_names.size());
    std::vector<std::size_t> skipped_per_class(listing.class_names.size(), 0), free_per_class(listing.class_names.size(), 0);
    bool any_colour = false;
    for (std::size_t i = 0; i < n; ++i) {
        const defect_candidate& c = listing.candidates[i];
        const auto k = static_cast<std::size_t>(c.class_index);
        if (results[i].error) {
            if (!o.skip_bad_files) std::rethrow_exception(results[i].error);
            std::string reason = message_of(results[i].error);
            if (first_reason[k].empty()) first_reason[k] = reason;
            ++skipped_per_class[k];
            set.skipped.push_back({c.image, std::move(reason)});
            if (o.on_skip) o.on_skip(set.skipped.back());
        } else if (results[i].defect_free) {
            ++free_per_class[k];
            set.defect_free.push_back(c.image);
        } else {
            any_colour = any_colour || results[i].colour == 3;
            set.samples.push_back({c.image, c.mask, c.class_index, results[i].area});
        }
    }
    const auto counts = set.counts();
    for (std::size_t k = 0; k < counts.size(); ++k) {
        std::string found = "none: " + std::to_string(free_per_class[k]) + " defect-free (all-zero mask), " +
                            std::to_string(skipped_per_class[k]) + " skipped";
        if (!first_reason[k].empty()) found += ", the first for " + first_reason[k];
        IMBDEF_REQUIRE(counts[k] > 0, "defect class " + set.class_names[k] + " in " + set.root.string(),
                       "at least one usable defect image", found);
    }
    std::stable_sort(set.samples.begin(), set.samples.end(), [](const defect_sample& a, const defect_sample& b) {
        if (a.class_index != b.class_index) return a.class_index < b.class_index;
        if (a.image.filename() != b.image.filename()) return a.image.filename() < b.image.filename();
        return a.image < b.image;
    });
    set.preprocess = o.preprocess;
    set.crop_around_defect = o.crop_around_defect;
    if (set.preprocess.channels == 0) set.preprocess.channels = any_colour ? 3 : 1;
    return set;
}

inline defect_set open_defect_set(const fs::path& root, const defect_set_options& o) {
    return open_defect_set(list_defects(root, o.layout), o);
}

// The set restricted to the classes `names`, in that order (class i of the result is names[i]), to
// train one model on part of a dataset. A name the set does not have, or one given twice, is an
// error that lists the set's classes. Samples keep their file-name order within each class.
inline defect_set select_classes(const defect_set& set, const std::vector<std::string>& names,
                                 const std::string& where = "data::select_classes") {
    std::string known;
    for (const auto& c : set.class_names) known += (known.empty() ? "" : ", ") + c;
    IMBDEF_REQUIRE(!names.empty(), where, "at least one class of the dataset (" + known + ")", "none");
    std::vector<int> new_index(set.class_names.size(), -1);
    for (std::size_t i = 0; i < names.size(); ++i) {
        const auto it = std::find(set.class_names.begin(), set.class_names.end(), names[i]);
        IMBDEF_REQUIRE(it != set.class_names.end(), where, "classes of the dataset (" + known + ")", "'" + names[i] + "'");
        auto& slot = new_index[static_cast<std::size_t>(it - set.class_names.begin())];
        IMBDEF_REQUIRE(slot < 0, where, "each class once", "'" + names[i] + "' twice");
        slot = static_cast<int>(i);
    }
    defect_set out = set;
    out.class_names = names;
    out.samples.clear();
    for (const auto& s : set.samples)
        if (const int k = new_index[static_cast<std::size_t>(s.class_index)]; k >= 0) {
            out.samples.push_back(s);
            out.samples.back().class_index = k;
        }
    std::stable_sort(out.samples.begin(), out.samples.end(),
                     [](const defect_sample& a, const defect_sample& b) { return a.class_index < b.class_index; });
    return out;
}

// The literature's protocol (DFMGAN and its successors): per class, in file-name order, the first
// third (rounded up, at least one) trains and the rest is held out. `all` trains on everything.
enum class split_protocol { all, one_third };

struct defect_split {
    std::vector<std::size_t> train;     // indices into defect_set::samples, ascending
    std::vector<std::size_t> held_out;  // likewise; empty under split_protocol::all
};

inline defect_split split_defects(const defect_set& set, split_protocol protocol) {
    defect_split out;
    std::size_t begin = 0;
    for (const std::size_t count : set.counts()) {
        const std::size_t keep = protocol == split_protocol::all ? count : std::max<std::size_t>(1, (count + 2) / 3);
        for (std::size_t j = 0; j < count; ++j) (j < keep ? out.train : out.held_out).push_back(begin + j);
        begin += count;
    }
    return out;
}

// The range of defect area fractions per class over `which` (the training samples, so that
// held-out images never inform the generator's rejection), at the set's resolution.
struct area_range {
    double min = 0, max = 0;
};

inline std::vector<area_range> class_area_ranges(const defect_set& set, const std::vector<std::size_t>& which) {
    std::vector<area_range> out(set.class_names.size(), {std::numeric_limits<double>::infinity(), 0.0});
    for (const std::size_t i : which) {
        IMBDEF_REQUIRE(i < set.samples.size(), "class_area_ranges", "sample indices below " + std::to_string(set.samples.size()),
                       std::to_string(i));
        const auto& s = set.samples[i];
        auto& a = out[static_cast<std::size_t>(s.class_index)];
        a.min = std::min(a.min, s.area_fraction);
        a.max = std::max(a.max, s.area_fraction);
    }
    for (std::size_t k = 0; k < out.size(); ++k)
        IMBDEF_REQUIRE(out[k].max > 0, "class_area_ranges, class " + set.class_names[k],
                       "at least one sample of the class among the indices given", "none");
    return out;
}

// The median area fraction of the samples `which` (the lower middle of an even count): what a
// defect of this set typically covers, where the defect stage's masks start (initial_mask_area).
inline double median_area_fraction(const defect_set& set, const std::vector<std::size_t>& which) {
    IMBDEF_REQUIRE(!which.empty(), "median_area_fraction", "at least one sample", "none");
    std::vector<double> areas;
    for (const std::size_t i : which) {
        IMBDEF_REQUIRE(i < set.samples.size(), "median_area_fraction", "sample indices below " + std::to_string(set.samples.size()),
                       std::to_string(i));
        areas.push_back(set.samples[i].area_fraction);
    }
    const auto mid = areas.begin() + static_cast<std::ptrdiff_t>((areas.size() - 1) / 2);
    std::nth_element(areas.begin(), mid, areas.end());
    return *mid;
}

// A short table of images per class (and the split, when given), for the trainer to print before
// training:
//   class     images  train  held out
//   Crack         40     14        26
inline std::string counts_table(const defect_set& set, const defect_split* split = nullptr) {
    const auto counts = set.counts();
    std::vector<std::size_t> train(counts.size(), 0);
    if (split)
        for (const std::size_t i : split->train) ++train[static_cast<std::size_t>(set.samples.at(i).class_index)];
    std::size_t width = 5;
    for (const auto& name : set.class_names) width = std::max(width, name.size());
    const auto row = [&](const std::string& name, std::size_t all, std::size_t tr) {
        char buf[96];
        std::string line = name + std::string(width - name.size(), ' ');
        std::snprintf(buf, sizeof buf, "  %6zu", all);
        line += buf;
        if (split) {
            std::snprintf(buf, sizeof buf, "  %5zu  %8zu", tr, all - tr);
            line += buf;
        }
        return line + "\n";
    };
    std::string out = "class" + std::string(width - 5, ' ') + "  images" + (split ? "  train  held out" : "") + "\n";
    std::size_t total = 0, total_train = 0;
    for (std::size_t k = 0; k < counts.size(); ++k) {
        out += row(set.class_names[k], counts[k], train[k]);
        total += counts[k];
        total_train += train[k];
    }
    out += row("total", total, total_train);
    if (!set.defect_free.empty()) out += "(" + std::to_string(set.defect_free.size()) + " defect-free images left out)\n";
    if (!set.skipped.empty()) out += "(" + std::to_string(set.skipped.size()) + " bad files skipped)\n";
    return out;
}

// One sample as training tensors: image [C, R, R] in [-1, 1], mask [1, R, R] in {-1, +1}. The
// outputs are written only once the files have decoded and passed every check.
inline void load_defect_sample(const defect_set& set, std::size_t i, core::view<float> image, core::view<float> mask) {
    IMBDEF_REQUIRE(i < set.samples.size(), "load_defect_sample", "a sample index below " + std::to_string(set.samples.size()),
                   std::to_string(i));
    const defect_sample& s = set.samples[i];
    const core::index_t r = set.preprocess.resolution;
    const core::shape want_image({set.preprocess.channels, r, r}), want_mask({1, r, r});
    IMBDEF_REQUIRE(image.shape() == want_image, "load_defect_sample " + s.image.string() + " (image)",
                   "an output of shape " + want_image.to_string(), image.shape().to_string());
    IMBDEF_REQUIRE(mask.shape() == want_mask, "load_defect_sample " + s.image.string() + " (mask)",
                   "an output of shape " + want_mask.to_string(), mask.shape().to_string());
    const defect_candidate c{s.image, s.mask, s.class_index, false};
    const auto d = detail::decode_defect(c);
    const preprocess_options framed = detail::framing(set.preprocess, set.crop_around_defect, d.mask);
    const auto m = detail::training_mask(d, c, framed);
    preprocess_image(d.image.pixels, framed, image, s.image);
    std::transform(m.begin(), m.end(), mask.begin(), [](std::uint8_t b) { return b ? 1.0f : -1.0f; });
}

struct defect_tensors {
    core::tensor<float> images;  // [n, C, R, R] in [-1, 1]
    core::tensor<float> masks;   // [n, 1, R, R] in {-1, +1}
    std::vector<int> classes;    // class index per row
};

// The samples `which` (e.g. defect_split::train), in that order, in parallel.
inline defect_tensors load_defect_tensors(const defect_set& set, const std::vector<std::size_t>& which) {
    const auto n = static_cast<core::index_t>(which.size());
    const core::index_t r = set.preprocess.resolution, c = set.preprocess.channels;
    defect_tensors out{core::tensor<float>(core::shape{n, c, r, r}, core::uninitialized),
                       core::tensor<float>(core::shape{n, 1, r, r}, core::uninitialized), {}};
    for (const std::size_t i : which) {
        IMBDEF_REQUIRE(i < set.samples.size(), "load_defect_tensors", "sample indices below " + std::to_string(set.samples.size()),
                       std::to_string(i));
        out.classes.push_back(set.samples[i].class_index);
    }
    std::vector<std::exception_ptr> errors(which.size());
    core::parallel_for(0, n, 1, [&](core::index_t lo, core::index_t hi) {
        for (core::index_t j = lo; j < hi; ++j) try {
                load_defect_sample(set, which[static_cast<std::size_t>(j)], out.images.view().slice(j),
                                   out.masks.view().slice(j));
            } catch (...) {
                errors[static_cast<std::size_t>(j)] = std::current_exception();
            }
    });
    for (const auto& e : errors)
        if (e) std::rethrow_exception(e);
    return out;
}

}  // namespace imbdef::data
