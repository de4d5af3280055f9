#pragma once
// The detector-ready dataset on disk: what generation hands to users. Under the root folder:
//
//   images/<split>/<name>.png         the defect image (8-bit, the sample's channels)
//   labels/<split>/<name>.txt         YOLO labels: detection boxes (default) or polygons
//   masks/<split>/<name>.png          the binary defect mask (0 / 255)
//   instances/<split>/<name>.png      the instance map (ids 0..255 as grey values), with maps only
//   classes/<split>/<name>.png        the class map (class + 1, 0 background), with maps only
//   backgrounds/<split>/<name>.png    the defect-free background, when given
//   valid_regions/<split>/<name>.png  the valid-region mask (0 / 255), when given
//   annotations/<split>.json          COCO instances of the split (file_name relative to
//                                     images/<split>)               } written by finish()
//   data.yaml                         the Ultralytics dataset file  }
//   manifest.json                     classes, options, counts, the caller's run metadata
//                                     (seeds, checkpoint hash, ...), rejected samples by reason,
//                                     and every sample with its files
//
// <split> is train, val or test. Every file is written atomically (temporary name, then rename).
// Within a sample the image is written last, so an image on disk always has its label file and
// mask (an image without a label file would read as a negative example); a sample whose writing
// fails has its files removed again. manifest.json is written with "complete": false when the
// writer is created and rewritten with "complete": true by finish(): a run interrupted before
// finish() leaves complete samples and a manifest that says so.
//
// A sample with no component of at least min_area pixels is written with an empty label file (a
// negative, for YOLO) and counted; callers that want to reject such samples check components_of
// first. The writer is not thread-safe.

#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "../../core/atomic_file.hpp"
#include "../../core/error.hpp"
#include "../../version.hpp"
#include "../image_io.hpp"
#include "coco.hpp"
#include "components.hpp"
#include "data_yaml.hpp"
#include "sample.hpp"
#include "yolo.hpp"

namespace imbdef::data {

enum class yolo_task { detect, segment };

struct export_options {
    std::vector<std::string> class_names;            // class index order; at least one
    component_options components;                    // min_area (default 16 px)
    yolo_task yolo = yolo_task::detect;              // what labels/ holds
    coco_segmentation coco = coco_segmentation::rle;
    bool overwrite = false;                          // replace the dataset files of a non-empty folder
};

// What the caller knows about the run, kept in the manifest.
struct export_metadata {
    nlohmann::json run = nlohmann::json::object();    // seeds, checkpoint hash, configuration, ...
    std::map<std::string, core::index_t> rejected;     // samples the caller discarded, by reason
};

// The files of one sample relative to the root, and its component counts.
struct export_entry {
    std::string name, split;
    std::filesystem::path image, label, mask, instances, classes, background, valid_region;
    core::index_t components = 0, dropped = 0;
    int class_id = 0;  // the sample's class (its first defect's, with several), for per-class measures
};

class dataset_writer {
public:
    // Creates root (and its parents) and writes manifest.json with "complete": false. Throws
    // imbdef::error when options are invalid, root is a file, root is not empty and
    // options.overwrite is false, or root cannot be created or written. With overwrite, only the
    // entries the writer owns are removed; anything else in the folder is kept.
    dataset_writer(std::filesystem::path root, export_options options)
        : root_(std::move(root)), options_(std::move(options)) {
        namespace fs = std::filesystem;
        const std::string where = "dataset_writer " + root_.string();
        IMBDEF_REQUIRE(!options_.class_names.empty(), where, "at least one class name", "none");
        IMBDEF_REQUIRE(options_.components.min_area >= 1, where, "min_area >= 1",
                       std::to_string(options_.components.min_area));
        std::error_code ec;
        if (fs::exists(root_, ec)) {
            IMBDEF_REQUIRE(fs::is_directory(root_, ec), where, "a folder", "a file that is not a folder");
            const bool empty = fs::directory_iterator(root_, ec) == fs::directory_iterator();
            IMBDEF_REQUIRE(!ec, where, "a readable folder", ec.message());
            IMBDEF_REQUIRE(empty || options_.overwrite, where, "an empty folder (or overwrite = true)",
                           "a folder that is not empty");
            for (const char* name : owned) {
                fs::remove_all(root_ / name, ec);
                IMBDEF_REQUIRE(!ec, where, "the old " + std::string(name) + " to be removable", ec.message());
            }
        }
        fs::create_directories(root_, ec);
        IMBDEF_REQUIRE(!ec && fs::is_directory(root_), where, "a folder that can be created",
                       ec ? ec.message() : std::string("something else in its place"));
        // Ultralytics needs the training folders even when no sample lands there.
        ensure_folder("images/train");
        ensure_folder("labels/train");
        write_manifest(manifest(false, {}));
    }

    const std::filesystem::path& root() const { return root_; }
    const std::vector<export_entry>& entries() const { return entries_; }

    // Writes one sample's files (see the header comment) and records its COCO annotations.
    // Throws, leaving none of the sample's files behind, for an invalid sample (validate), a name
    // that is empty, has characters other than letters, digits, '_', '-', '.', starts with '.',
    // or was used before, a split other than train, val, test, a class id without a class name,
    // map values above 255, a write failure, or a call after finish().
    const export_entry& add(const export_sample& s) {
        const std::string where = "dataset_writer::add '" + s.name + "' to " + root_.string();
        IMBDEF_REQUIRE(!finished_, where, "a writer that is not finished", "finish() was called");
        validate(s);
        static const std::regex name_pattern("[A-Za-z0-9_\\-][A-Za-z0-9_.\\-]{0,199}");
        IMBDEF_REQUIRE(std::regex_match(s.name, name_pattern), where,
                       "a name of 1 to 200 letters, digits, '_', '-', '.', not starting with '.'",
                       "'" + s.name + "'");
        IMBDEF_REQUIRE(!names_.contains(s.name), where, "a name not used before", "a second sample of that name");
        IMBDEF_REQUIRE(s.split == "train" || s.split == "val" || s.split == "test", where, "split train, val or test",
                       "'" + s.split + "'");
        const component_set set = components_of(s, options_.components);
        for (const component& c : set.components)
            IMBDEF_REQUIRE(static_cast<std::size_t>(c.class_id) < options_.class_names.size(), where,
                           "class ids below " + std::to_string(options_.class_names.size()) + " (the class names)",
                           "class id " + std::to_string(c.class_id));

        export_entry e;
        e.name = s.name;
        e.class_id = s.class_id;
        e.split = s.split;
        e.components = static_cast<core::index_t>(set.components.size());
        e.dropped = set.dropped;
        const auto path = [&](const char* folder, const char* ext) {
            return std::filesystem::path(folder) / s.split / (s.name + ext);
        };
        e.image = path("images", ".png");
        e.label = path("labels", ".txt");
        e.mask = path("masks", ".png");
        if (s.instance) {
            e.instances = path("instances", ".png");
            e.classes = path("classes", ".png");
        }
        if (s.background) e.background = path("backgrounds", ".png");
        if (s.valid_region) e.valid_region = path("valid_regions", ".png");
        const xt::xtensor<std::uint8_t, 2> instances = s.instance ? to_grey(*s.instance, where, "instance map") : xt::xtensor<std::uint8_t, 2>{};
        const xt::xtensor<std::uint8_t, 2> classes = s.class_map ? to_grey(*s.class_map, where, "class map") : xt::xtensor<std::uint8_t, 2>{};
        const std::string labels = options_.yolo == yolo_task::detect ? yolo_detection_labels(set) : yolo_segmentation_labels(set);

        std::vector<std::filesystem::path> written;
        try {
            for (const auto& p : {e.image, e.label, e.mask, e.instances, e.classes, e.background, e.valid_region})
                if (!p.empty()) ensure_folder(p.parent_path());
            write_mask(e.mask, s.mask, written);
            if (s.instance) {
                write_raw(e.instances, instances, written);
                write_raw(e.classes, classes, written);
            }
            if (s.background) write_image(e.background, *s.background, written);
            if (s.valid_region) write_mask(e.valid_region, *s.valid_region, written);
            core::write_file_atomically(root_ / e.label, as_bytes(labels));
            written.push_back(root_ / e.label);
            write_image(e.image, s.image, written);  // last: an image on disk has all its files
        } catch (...) {
            std::error_code ignored;
            for (const auto& p : written) std::filesystem::remove(p, ignored);
            throw;
        }

        auto coco = coco_.find(s.split);
        if (coco == coco_.end())
            coco = coco_.emplace(s.split, coco_builder(options_.class_names, options_.coco)).first;
        coco->second.add_image(s.name + ".png", set);
        names_.insert(s.name);
        if (!s.metadata.is_null()) metadata_[s.name] = s.metadata;
        entries_.push_back(std::move(e));
        return entries_.back();
    }

    // Writes annotations/<split>.json for every split with images, data.yaml and the final
    // manifest.json ("complete": true), and returns the manifest. Throws for a negative rejected
    // count, a write failure, or a second call.
    nlohmann::json finish(const export_metadata& metadata = {}) {
        const std::string where = "dataset_writer::finish " + root_.string();
        IMBDEF_REQUIRE(!finished_, where, "a writer that is not finished", "finish() was called before");
        for (const auto& [reason, count] : metadata.rejected)
            IMBDEF_REQUIRE(count >= 0, where, "rejected counts >= 0", "'" + reason + "': " + std::to_string(count));
        if (!coco_.empty()) ensure_folder("annotations");
        for (const auto& [split, coco] : coco_) {
            nlohmann::json j = coco.to_json();
            j["info"]["split"] = split;
            write_text(std::filesystem::path("annotations") / (split + ".json"), j.dump(1) + "\n");
        }
        data_yaml_spec yaml;
        yaml.root = root_;
        yaml.val = coco_.contains("val") ? "images/val" : "";
        yaml.test = coco_.contains("test") ? "images/test" : "";
        yaml.names = options_.class_names;
        write_text("data.yaml", data_yaml_text(yaml));
        nlohmann::json m = manifest(true, metadata);
        write_manifest(m);
        finished_ = true;
        return m;
    }

private:
    static constexpr const char* owned[] = {"images",        "labels",      "masks",     "instances", "classes",
                                            "backgrounds",   "valid_regions", "annotations", "data.yaml",
                                            "manifest.json"};

    static std::span<const std::byte> as_bytes(const std::string& s) {
        return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
    }

    void ensure_folder(const std::filesystem::path& relative) const {
        std::error_code ec;
        const std::filesystem::path folder = root_ / relative;
        std::filesystem::create_directories(folder, ec);
        IMBDEF_REQUIRE(!ec && std::filesystem::is_directory(folder), "dataset_writer: create folder " + folder.string(),
                       "a folder that can be created", ec ? ec.message() : std::string("something else in its place"));
    }

    static xt::xtensor<std::uint8_t, 2> to_grey(const xt::xtensor<std::int32_t, 2>& m, const std::string& where,
                                                const char* what) {
        auto out = xt::xtensor<std::uint8_t, 2>::from_shape(m.shape());
        for (std::size_t p = 0; p < m.size(); ++p) {
            IMBDEF_REQUIRE(m.data()[p] >= 0 && m.data()[p] <= 255, where,
                           std::string(what) + " values from 0 to 255 (8-bit PNG)", std::to_string(m.data()[p]));
            out.data()[p] = static_cast<std::uint8_t>(m.data()[p]);
        }
        return out;
    }

    void write_mask(const std::filesystem::path& rel, const xt::xtensor<std::uint8_t, 2>& m,
                    std::vector<std::filesystem::path>& written) const {
        auto binary = xt::xtensor<std::uint8_t, 2>::from_shape(m.shape());
        for (std::size_t p = 0; p < m.size(); ++p) binary.data()[p] = m.data()[p] != 0 ? 255 : 0;
        write_raw(rel, binary, written);
    }

    void write_raw(const std::filesystem::path& rel, const xt::xtensor<std::uint8_t, 2>& m,
                   std::vector<std::filesystem::path>& written) const {
        write_png_mask(root_ / rel, m);
        written.push_back(root_ / rel);
    }

    void write_image(const std::filesystem::path& rel, const xt::xtensor<std::uint8_t, 3>& im,
                     std::vector<std::filesystem::path>& written) const {
        write_png(root_ / rel, im);
        written.push_back(root_ / rel);
    }

    void write_text(const std::filesystem::path& rel, const std::string& text) const {
        core::write_file_atomically(root_ / rel, as_bytes(text));
    }

    void write_manifest(const nlohmann::json& m) const {
        try {
            write_text("manifest.json", m.dump(1) + "\n");
        } catch (const imbdef::error& e) {
            throw imbdef::error("dataset_writer " + root_.string(), "a writable folder", e.found());
        }
    }

    nlohmann::json manifest(bool complete, const export_metadata& metadata) const {
        nlohmann::json counts = nlohmann::json::object(), samples = nlohmann::json::array();
        for (const export_entry& e : entries_) {
            nlohmann::json& c = counts[e.split];
            if (c.is_null()) c = {{"images", 0}, {"annotations", 0}, {"negatives", 0}, {"dropped_components", 0}};
            c["images"] = c["images"].get<core::index_t>() + 1;
            c["annotations"] = c["annotations"].get<core::index_t>() + e.components;
            c["negatives"] = c["negatives"].get<core::index_t>() + (e.components == 0 ? 1 : 0);
            c["dropped_components"] = c["dropped_components"].get<core::index_t>() + e.dropped;
            nlohmann::json s{{"name", e.name},           {"split", e.split},
                             {"image", e.image.generic_string()}, {"label", e.label.generic_string()},
                             {"mask", e.mask.generic_string()},   {"components", e.components},
                             {"dropped_components", e.dropped}, {"class", e.class_id}};
            for (const auto& [key, p] : {std::pair{"instances", &e.instances}, std::pair{"classes", &e.classes},
                                         std::pair{"background", &e.background}, std::pair{"valid_region", &e.valid_region}})
                if (!p->empty()) s[key] = p->generic_string();
            if (const auto it = metadata_.find(e.name); it != metadata_.end()) s["metadata"] = it->second;
            samples.push_back(std::move(s));
        }
        return {{"format", "imbdef detection dataset"},
                {"complete", complete},
                {"imbdef_version", std::to_string(version_major) + "." + std::to_string(version_minor) + "." +
                                       std::to_string(version_patch)},
                {"classes", options_.class_names},
                {"options",
                 {{"min_area", options_.components.min_area},
                  {"yolo_labels", options_.yolo == yolo_task::detect ? "detect" : "segment"},
                  {"coco_segmentation", to_string(options_.coco)}}},
                {"counts", counts},
                {"rejected", metadata.rejected},
                {"run", metadata.run},
                {"samples", samples}};
    }

    std::filesystem::path root_;
    export_options options_;
    std::vector<export_entry> entries_;
    std::set<std::string> names_;
    std::map<std::string, nlohmann::json> metadata_;
    std::map<std::string, coco_builder> coco_;
    bool finished_ = false;
};

}  // namespace imbdef::data
