#pragma once
// Writing the synthetic dataset to disk in the MVTec AD layout, with the valid-region masks beside
// it and a manifest. Under <dir>/<category>:
//
//   train/good/NNN.png                        defect-free training images
//   test/good/NNN.png                         defect-free test images
//   test/<type>/NNN.png                       defective images; <type> is a defect kind or "combined"
//   ground_truth/<type>/NNN_mask.png          their defect masks (0 / 255)
//   valid_region/<split>/<type>/NNN.png       the valid-region mask of every image above, with the
//                                             same split, folder and number (<type> "good" too)
//   manifest.json                             the configuration, the counts, and every file with
//                                             its sample index, scene and defects
//
// NNN counts from 000 within each folder (more digits when a folder holds over 1000 images).
// Every file is written atomically (temporary name, then rename), so no file is ever half
// written. manifest.json is written first with "complete": false and rewritten last with
// "complete": true: a manifest that says false marks an interrupted write.

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "../../core/atomic_file.hpp"
#include "../../core/error.hpp"
#include "../../core/parallel.hpp"
#include "../../version.hpp"
#include "../image_io.hpp"
#include "config.hpp"
#include "sample.hpp"

namespace imbdef::data {

struct synthetic_write_options {
    // Replace the dataset files of an existing category folder (only train/, test/,
    // ground_truth/, valid_region/ and manifest.json are removed; anything else is kept).
    bool overwrite = false;
};

// Where sample i of a configuration goes, relative to <dir>/<category>.
struct synthetic_file_entry {
    core::index_t index = 0;
    std::filesystem::path image;
    std::filesystem::path mask;  // empty for good samples
    std::filesystem::path valid_region;
    synthetic_labels labels;
};

struct synthetic_write_summary {
    std::filesystem::path root;  // <dir>/<category>
    std::vector<synthetic_file_entry> files;
    std::map<std::string, core::index_t> counts;  // "train/good", "test/good", "test/<type>"
};

namespace synthetic_detail {

inline std::string numbered(core::index_t k, core::index_t folder_size) {
    int digits = 3;
    for (core::index_t m = 1000; m < folder_size; m *= 10) ++digits;
    std::string s = std::to_string(k);
    return std::string(static_cast<std::size_t>(std::max(0, digits - static_cast<int>(s.size()))), '0') + s;
}

}  // namespace synthetic_detail

// The file of every sample, from the labels alone (nothing is rendered).
inline std::vector<synthetic_file_entry> plan_synthetic_files(const synthetic_config& cfg) {
    cfg.validate();
    std::vector<synthetic_file_entry> files(static_cast<std::size_t>(cfg.size()));
    std::map<std::string, core::index_t> folder_size, next;
    for (core::index_t i = 0; i < cfg.size(); ++i) {
        auto& f = files[static_cast<std::size_t>(i)];
        f.index = i;
        f.labels = describe_sample(cfg, i);
        const std::string split = slot_of(cfg, i).split == synthetic_split::train_good ? "train" : "test";
        ++folder_size[split + "/" + f.labels.defect_type];
    }
    for (auto& f : files) {
        const std::string split = slot_of(cfg, f.index).split == synthetic_split::train_good ? "train" : "test";
        const std::string folder = split + "/" + f.labels.defect_type;
        const std::string name = synthetic_detail::numbered(next[folder]++, folder_size[folder]);
        f.image = std::filesystem::path(split) / f.labels.defect_type / (name + ".png");
        if (f.labels.is_defective) f.mask = std::filesystem::path("ground_truth") / f.labels.defect_type / (name + "_mask.png");
        f.valid_region = std::filesystem::path("valid_region") / split / f.labels.defect_type / (name + ".png");
    }
    return files;
}

// The manifest of a configuration's dataset.
inline nlohmann::json synthetic_manifest(const synthetic_config& cfg, const std::vector<synthetic_file_entry>& files,
                                         bool complete = true) {
    nlohmann::json samples = nlohmann::json::array();
    std::map<std::string, core::index_t> counts;
    for (const auto& f : files) {
        ++counts[f.image.parent_path().generic_string()];
        nlohmann::json s{{"index", f.index},
                         {"image", f.image.generic_string()},
                         {"valid_region", f.valid_region.generic_string()},
                         {"scene", f.labels.scene},
                         {"defect_type", f.labels.defect_type},
                         {"defects", f.labels.defects}};
        if (!f.mask.empty()) s["mask"] = f.mask.generic_string();
        samples.push_back(std::move(s));
    }
    return nlohmann::json{{"format", "imbdef synthetic dataset"},
                          {"complete", complete},
                          {"layout", "mvtec_ad"},
                          {"imbdef_version", std::to_string(version_major) + "." + std::to_string(version_minor) + "." +
                                                 std::to_string(version_patch)},
                          {"config", cfg},
                          {"counts", counts},
                          {"samples", samples}};
}

// Generates every sample of `cfg` (in parallel on the library's thread pool) and writes the
// dataset under <dir>/<category>. Throws imbdef::error naming the path when a folder cannot be
// created or a file cannot be written, and when the category folder already holds a dataset and
// options.overwrite is false.
inline synthetic_write_summary write_synthetic_dataset(const synthetic_config& cfg, const std::filesystem::path& dir,
                                                       const synthetic_write_options& options = {}) {
    namespace fs = std::filesystem;
    cfg.validate();
    synthetic_write_summary summary;
    summary.root = dir / cfg.category_name();
    summary.files = plan_synthetic_files(cfg);
    const fs::path& root = summary.root;
    const std::string where = "write synthetic dataset to " + root.string();

    std::error_code ec;
    static constexpr const char* owned[] = {"train", "test", "ground_truth", "valid_region", "manifest.json"};
    bool existing = false;
    for (const char* name : owned) existing = existing || fs::exists(root / name, ec);
    IMBDEF_REQUIRE(!existing || options.overwrite, where, "a folder without a dataset (or overwrite = true)",
                   "an existing dataset there");
    if (existing)
        for (const char* name : owned) {
            fs::remove_all(root / name, ec);
            IMBDEF_REQUIRE(!ec, where, "the old " + std::string(name) + " to be removable", ec.message());
        }

    std::vector<fs::path> folders;
    for (const auto& f : summary.files) {
        folders.push_back(root / f.image.parent_path());
        folders.push_back(root / f.valid_region.parent_path());
        if (!f.mask.empty()) folders.push_back(root / f.mask.parent_path());
    }
    folders.push_back(root / "train" / "good");  // the layout's one required folder, even when empty
    std::sort(folders.begin(), folders.end());
    folders.erase(std::unique(folders.begin(), folders.end()), folders.end());
    for (const fs::path& folder : folders) {
        fs::create_directories(folder, ec);
        IMBDEF_REQUIRE(!ec && fs::is_directory(folder), "write synthetic dataset: create folder " + folder.string(),
                       "a folder that can be created", ec ? ec.message() : std::string("something else in its place"));
    }

    const auto write_manifest = [&](const nlohmann::json& manifest) {
        const std::string text = manifest.dump(1) + "\n";
        core::write_file_atomically(root / "manifest.json",
                                    std::span<const std::byte>(reinterpret_cast<const std::byte*>(text.data()), text.size()));
    };
    write_manifest(synthetic_manifest(cfg, summary.files, false));

    core::parallel_for(0, cfg.size(), 1, [&](core::index_t lo, core::index_t hi) {
        for (core::index_t i = lo; i < hi; ++i) {
            const synthetic_file_entry& f = summary.files[static_cast<std::size_t>(i)];
            const synthetic_sample s = generate_sample(cfg, i);
            write_png(root / f.image, s.image);
            write_png_mask(root / f.valid_region, s.valid_region);
            if (!f.mask.empty()) write_png_mask(root / f.mask, s.defect_mask);
        }
    });

    const nlohmann::json manifest = synthetic_manifest(cfg, summary.files, true);
    for (const auto& [folder, count] : manifest.at("counts").items()) summary.counts[folder] = count.get<core::index_t>();
    write_manifest(manifest);
    return summary;
}

// The dataset of `cfg` under <dir>/<category>: left as it is when a complete one with the same
// configuration is there, else (re)written. Only a folder that is empty or holds an imbdef
// synthetic dataset (its manifest says so) is ever rewritten; any other dataset there is an
// error, never deleted. Returns the category folder.
inline std::filesystem::path ensure_synthetic_dataset(const synthetic_config& cfg, const std::filesystem::path& dir) {
    cfg.validate();
    const std::filesystem::path root = dir / cfg.category_name();
    const std::filesystem::path manifest_path = root / "manifest.json";
    std::error_code ec;
    bool ours = false;
    if (std::filesystem::is_regular_file(manifest_path, ec)) {
        std::ifstream in(manifest_path);
        const nlohmann::json manifest = nlohmann::json::parse(in, nullptr, false);
        ours = !manifest.is_discarded() && manifest.is_object() && manifest.value("format", "") == "imbdef synthetic dataset";
        if (ours && manifest.value("complete", false) && manifest.contains("config") && manifest.at("config") == nlohmann::json(cfg))
            return root;
    }
    write_synthetic_dataset(cfg, dir, {.overwrite = ours});
    return root;
}

}  // namespace imbdef::data
