#pragma once
// One generated sample as the exporters take it: plain 8-bit arrays, independent of any
// generator, and its components.
//
// The defect mask is the union of all defects (set where non-zero). With several defects per
// image, the instance and class maps (models::compose_defect_maps: instance k + 1 for pass k,
// class c + 1, 0 elsewhere) say which defect each pixel belongs to; then the labels come from the
// maps and the mask must be exactly where the instance map is non-zero. Without maps every
// component of the mask gets `class_id`.

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <xtensor/xtensor.hpp>

#include "components.hpp"

namespace imbdef::data {

struct export_sample {
    std::string name;                                    // file stem: letters, digits, '_', '-', '.'
    std::string split = "train";                         // "train", "val" or "test"
    xt::xtensor<std::uint8_t, 3> image;                  // (H, W, C), C = 1 to 4
    xt::xtensor<std::uint8_t, 2> mask;                   // (H, W), set where non-zero
    std::int32_t class_id = 0;                           // the mask's class when there are no maps
    std::optional<xt::xtensor<std::int32_t, 2>> instance;   // (H, W); with class_map
    std::optional<xt::xtensor<std::int32_t, 2>> class_map;  // (H, W); with instance
    std::optional<xt::xtensor<std::uint8_t, 3>> background;  // (H, W, C) like image
    std::optional<xt::xtensor<std::uint8_t, 2>> valid_region;  // (H, W), set where non-zero
    nlohmann::json metadata;                             // anything (seeds, ...); kept in the manifest
};

namespace export_detail {

inline std::string size_text(std::size_t h, std::size_t w) { return std::to_string(h) + " x " + std::to_string(w); }

}  // namespace export_detail

// Throws imbdef::error naming the sample and the array for every inconsistency: an empty image,
// channels outside 1 to 4, arrays whose height and width differ from the image's, only one of the
// two maps, a mask that differs from the instance map's support, a negative class id.
inline void validate(const export_sample& s) {
    const std::string where = "export sample '" + s.name + "'";
    const std::size_t h = s.image.shape()[0], w = s.image.shape()[1], c = s.image.shape()[2];
    IMBDEF_REQUIRE(h > 0 && w > 0 && c >= 1 && c <= 4, where, "an image (height, width, channels) with 1 to 4 channels",
                   export_detail::size_text(h, w) + " x " + std::to_string(c));
    const auto same = [&](const auto& a, const char* what) {
        IMBDEF_REQUIRE(a.shape()[0] == h && a.shape()[1] == w, where,
                       std::string(what) + " of the image's size " + export_detail::size_text(h, w),
                       export_detail::size_text(a.shape()[0], a.shape()[1]));
    };
    same(s.mask, "a mask");
    IMBDEF_REQUIRE(s.class_id >= 0, where, "class_id >= 0", std::to_string(s.class_id));
    IMBDEF_REQUIRE(s.instance.has_value() == s.class_map.has_value(), where,
                   "both an instance map and a class map, or neither",
                   s.instance ? "an instance map only" : "a class map only");
    if (s.instance) {
        same(*s.instance, "an instance map");
        same(*s.class_map, "a class map");
        for (std::size_t p = 0; p < h * w; ++p)
            IMBDEF_REQUIRE((s.mask.data()[p] != 0) == (s.instance->data()[p] != 0), where,
                           "the mask set exactly where the instance map is non-zero",
                           "a difference at (y " + std::to_string(p / w) + ", x " + std::to_string(p % w) + ")");
    }
    if (s.background) {
        IMBDEF_REQUIRE(s.background->shape() == s.image.shape(), where,
                       "a background of the image's shape " + export_detail::size_text(h, w) + " x " + std::to_string(c),
                       export_detail::size_text(s.background->shape()[0], s.background->shape()[1]) + " x " +
                           std::to_string(s.background->shape()[2]));
    }
    if (s.valid_region) same(*s.valid_region, "a valid region");
}

// The sample's kept components: from the maps when it has them, else from the mask.
inline component_set components_of(const export_sample& s, const component_options& o = {}) {
    return s.instance ? instance_components(*s.instance, *s.class_map, o) : connected_components(s.mask, s.class_id, o);
}

}  // namespace imbdef::data
