#pragma once
// Dataset layouts: finding the images of a dataset on disk, with their masks and labels, without
// decoding anything. Three layouts:
//   MVTec AD          <root>/train/good/*, <root>/test/<label>/*, masks in
//                     <root>/ground_truth/<label>/<name>_mask.png (none for "good");
//   image + mask folders
//                     <images>/<name>.<ext> with <masks>/<name>.<png|...>; a mask that is all
//                     zero marks a defect-free image (found when the mask is read, not here);
//   Magnetic Tile     <root>/MT_<Class>/Imgs/<name>.jpg with its mask <name>.png beside it;
//                     MT_Free is the defect-free class.
// scan_dataset() recognises the layout of a folder. Records are sorted by path, so an index is the
// same on every machine. A defect image without its mask is an error naming both files.

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "../core/error.hpp"

namespace imbdef::data {

namespace fs = std::filesystem;

struct sample_record {
    fs::path image;
    std::optional<fs::path> mask;  // defect mask file, when the layout has one for this image
    std::string label;             // "good", or the defect class
    std::string split;             // "train", "test", or the folder's own split name
};

enum class layout_kind { mvtec, image_mask_folders, magnetic_tile };

struct dataset_index {
    layout_kind layout;
    fs::path root;
    std::vector<sample_record> records;

    // Records whose label is "good" (defect-free), or the others.
    std::vector<sample_record> good() const { return select(true); }
    std::vector<sample_record> defective() const { return select(false); }

private:
    std::vector<sample_record> select(bool want_good) const {
        std::vector<sample_record> out;
        for (const auto& r : records)
            if ((r.label == "good") == want_good) out.push_back(r);
        return out;
    }
};

namespace detail {

inline bool is_image_file(const fs::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

// Image files directly in `dir`, sorted.
inline std::vector<fs::path> images_in(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file() && is_image_file(e.path())) out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

inline std::vector<fs::path> subfolders(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.is_directory()) out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
}

inline void require_folder(const fs::path& dir, const std::string& what) {
    IMBDEF_REQUIRE(fs::is_directory(dir), "dataset " + dir.string(), "a folder (" + what + ")",
                   fs::exists(dir) ? "something that is not a folder" : "nothing there");
}

}  // namespace detail

// <root> is one MVTec AD category (the folder holding train/, test/, ground_truth/).
inline dataset_index scan_mvtec(const fs::path& root) {
    detail::require_folder(root / "train" / "good", "MVTec AD: train/good");
    dataset_index index{layout_kind::mvtec, root, {}};
    for (const auto& p : detail::images_in(root / "train" / "good")) index.records.push_back({p, std::nullopt, "good", "train"});
    if (fs::is_directory(root / "test"))
        for (const auto& label_dir : detail::subfolders(root / "test")) {
            const std::string label = label_dir.filename().string();
            for (const auto& p : detail::images_in(label_dir)) {
                std::optional<fs::path> mask;
                if (label != "good") {
                    mask = root / "ground_truth" / label / (p.stem().string() + "_mask.png");
                    IMBDEF_REQUIRE(fs::is_regular_file(*mask), "dataset image " + p.string(),
                                   "its mask " + mask->string(), "no such file");
                }
                index.records.push_back({p, mask, label, "test"});
            }
        }
    return index;
}

// Every image in `images` has a mask of the same stem in `masks`. Labels are "unknown" until the
// mask is read (all zero: good); `split` is the name of the folder above `images` when given.
inline dataset_index scan_image_mask_folders(const fs::path& images, const fs::path& masks, std::string split = {}) {
    detail::require_folder(images, "images");
    detail::require_folder(masks, "masks");
    std::vector<fs::path> mask_files = detail::images_in(masks);
    dataset_index index{layout_kind::image_mask_folders, images.parent_path(), {}};
    for (const auto& p : detail::images_in(images)) {
        const auto it = std::find_if(mask_files.begin(), mask_files.end(),
                                     [&](const fs::path& m) { return m.stem() == p.stem(); });
        IMBDEF_REQUIRE(it != mask_files.end(), "dataset image " + p.string(),
                       "a mask named " + p.stem().string() + ".<png|jpg|bmp> in " + masks.string(), "none");
        index.records.push_back({p, *it, "unknown", split});
    }
    return index;
}

// <root> holds the MT_<Class> folders.
inline dataset_index scan_magnetic_tile(const fs::path& root) {
    detail::require_folder(root, "Magnetic Tile root");
    dataset_index index{layout_kind::magnetic_tile, root, {}};
    for (const auto& class_dir : detail::subfolders(root)) {
        const std::string name = class_dir.filename().string();
        if (name.rfind("MT_", 0) != 0 || !fs::is_directory(class_dir / "Imgs")) continue;
        std::string label = name.substr(3);
        std::transform(label.begin(), label.end(), label.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (label == "free") label = "good";
        for (const auto& p : detail::images_in(class_dir / "Imgs")) {
            if (p.extension() != ".jpg") continue;  // the .png beside it is the mask
            fs::path mask = p;
            mask.replace_extension(".png");
            IMBDEF_REQUIRE(fs::is_regular_file(mask), "dataset image " + p.string(), "its mask " + mask.string(),
                           "no such file");
            index.records.push_back({p, label == "good" ? std::nullopt : std::optional<fs::path>(mask), label, "all"});
        }
    }
    IMBDEF_REQUIRE(!index.records.empty(), "dataset " + root.string(), "MT_<Class>/Imgs/*.jpg files", "none");
    return index;
}

// Recognises the layout: MVTec AD (train/good), Magnetic Tile (MT_*/Imgs), images/ + masks/,
// or a folder whose splits (train/, val/, test/) each hold images/ + masks/.
inline dataset_index scan_dataset(const fs::path& root) {
    detail::require_folder(root, "a dataset");
    if (fs::is_directory(root / "train" / "good")) return scan_mvtec(root);
    for (const auto& d : detail::subfolders(root))
        if (d.filename().string().rfind("MT_", 0) == 0 && fs::is_directory(d / "Imgs")) return scan_magnetic_tile(root);
    if (fs::is_directory(root / "images") && fs::is_directory(root / "masks"))
        return scan_image_mask_folders(root / "images", root / "masks", root.filename().string());
    dataset_index all{layout_kind::image_mask_folders, root, {}};
    for (const auto& split : detail::subfolders(root))
        if (fs::is_directory(split / "images") && fs::is_directory(split / "masks")) {
            auto part = scan_image_mask_folders(split / "images", split / "masks", split.filename().string());
            all.records.insert(all.records.end(), part.records.begin(), part.records.end());
        }
    IMBDEF_REQUIRE(!all.records.empty(), "dataset " + root.string(),
                   "an MVTec AD category, Magnetic Tile classes, or images/ and masks/ folders", "none of them");
    return all;
}

}  // namespace imbdef::data
