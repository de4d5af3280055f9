#pragma once
// A COCO instances file for a set of images: info, images, categories and one annotation per
// kept component.
//
//   images:       id (from 1, in the order added), file_name, width, height
//   categories:   id = class index + 1 (0 stays free for the background, as in the class maps),
//                 name
//   annotations:  id (from 1), image_id, category_id, bbox [x, y, w, h] in pixels (the box of
//                 the component's pixels, pixel (x, y) covering [x, x + 1) x [y, y + 1)),
//                 area = the component's pixel count, iscrowd 0, segmentation
//
// The segmentation is compressed RLE by default ({"size": [height, width], "counts": "..."}):
// it is the one form that is exact for every mask, including holes and one-pixel features, so a
// detector trained on it sees the very mask the generator painted, and pycocotools, detectron2
// and MMDetection read it. Polygons (outline.hpp, pixel-corner vertices) cover holes and are
// offered for tools that read only polygons; uncompressed RLE (counts as a list) for tools that
// cannot decode the string form.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "components.hpp"
#include "outline.hpp"
#include "rle.hpp"

namespace imbdef::data {

enum class coco_segmentation { rle, uncompressed_rle, polygon };

inline const char* to_string(coco_segmentation s) {
    return s == coco_segmentation::rle ? "rle" : s == coco_segmentation::uncompressed_rle ? "uncompressed_rle" : "polygon";
}

class coco_builder {
public:
    // class_names[c] is the name of class c; at least one.
    explicit coco_builder(std::vector<std::string> class_names,
                          coco_segmentation segmentation = coco_segmentation::rle, nlohmann::json info = {})
        : names_(std::move(class_names)), segmentation_(segmentation), info_(std::move(info)) {
        IMBDEF_REQUIRE(!names_.empty(), "data::coco_builder", "at least one class name", "none");
        if (info_.is_null()) info_ = nlohmann::json{{"description", "imbdef generated defects"}};
    }

    // Adds an image and the annotations of its components (the set's size is the image's);
    // returns the image id. Throws for a class id outside the class names.
    std::int64_t add_image(const std::string& file_name, const component_set& set) {
        const std::int64_t image_id = static_cast<std::int64_t>(images_.size()) + 1;
        for (const component& c : set.components)
            IMBDEF_REQUIRE(c.class_id >= 0 && static_cast<std::size_t>(c.class_id) < names_.size(),
                           "data::coco_builder::add_image " + file_name,
                           "class ids below " + std::to_string(names_.size()) + " (the class names)",
                           "class id " + std::to_string(c.class_id));
        images_.push_back({{"id", image_id}, {"file_name", file_name}, {"width", set.width}, {"height", set.height}});
        for (std::size_t i = 0; i < set.components.size(); ++i) {
            const component& c = set.components[i];
            annotations_.push_back({{"id", static_cast<std::int64_t>(annotations_.size()) + 1},
                                    {"image_id", image_id},
                                    {"category_id", c.class_id + 1},
                                    {"bbox", {c.box.x0, c.box.y0, c.box.width(), c.box.height()}},
                                    {"area", c.area},
                                    {"iscrowd", 0},
                                    {"segmentation", segmentation(set, i)}});
        }
        return image_id;
    }

    std::size_t image_count() const { return images_.size(); }
    std::size_t annotation_count() const { return annotations_.size(); }

    nlohmann::json to_json() const {
        nlohmann::json categories = nlohmann::json::array();
        for (std::size_t c = 0; c < names_.size(); ++c)
            categories.push_back({{"id", c + 1}, {"name", names_[c]}, {"supercategory", "defect"}});
        return {{"info", info_},
                {"images", images_.empty() ? nlohmann::json::array() : nlohmann::json(images_)},
                {"categories", categories},
                {"annotations", annotations_.empty() ? nlohmann::json::array() : nlohmann::json(annotations_)}};
    }

private:
    nlohmann::json segmentation(const component_set& set, std::size_t i) const {
        if (segmentation_ == coco_segmentation::polygon) {
            nlohmann::json flat = nlohmann::json::array();
            for (const grid_point& p : trace_outline(set, i)) {
                flat.push_back(p.x);
                flat.push_back(p.y);
            }
            return nlohmann::json::array({flat});
        }
        const coco_rle r = encode_rle(set, i);
        const nlohmann::json size = {r.height, r.width};
        if (segmentation_ == coco_segmentation::uncompressed_rle) return {{"size", size}, {"counts", r.counts}};
        return {{"size", size}, {"counts", rle_to_string(r)}};
    }

    std::vector<std::string> names_;
    coco_segmentation segmentation_;
    nlohmann::json info_;
    std::vector<nlohmann::json> images_, annotations_;
};

}  // namespace imbdef::data
