#pragma once
// One generated sample as the exporters take it: plain 8-bit arrays, independent of any
// generator, and its components.
//
// The defect mask is the union of all defects (set where non-zero). With several defects per
// image, the instance and class maps (models::compose_defect_maps: instance k + 1 for pass k,
// class c + 1, 0 elsewhere) say which defect each pixel belongs to; then the labels come from the
// maps and the mask must be exactly where the instance map is non-zero. Without maps every
// component of the mask gets `class_id`.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <xtensor/xtensor.hpp>

#include "../../core/error.hpp"
#include "../../core/tensor.hpp"
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

// A network's image [C, H, W] in [-1, 1] as 8-bit (H, W, C): v -> clamp(v 127.5 + 128, 0, 255)
// truncated, the mapping `imbdef generate` has always used.
inline xt::xtensor<std::uint8_t, 3> image_u8_from_chw(core::const_view<float> chw) {
    IMBDEF_REQUIRE(chw.rank() == 3 && chw.size(0) >= 1 && chw.size(0) <= 4, "data::image_u8_from_chw",
                   "an image [C, H, W] with 1 to 4 channels", "shape " + chw.shape().to_string());
    const std::size_t c = static_cast<std::size_t>(chw.size(0)), h = static_cast<std::size_t>(chw.size(1)),
                      w = static_cast<std::size_t>(chw.size(2));
    auto out = xt::xtensor<std::uint8_t, 3>::from_shape({h, w, c});
    for (std::size_t k = 0; k < c; ++k)
        for (std::size_t y = 0; y < h; ++y)
            for (std::size_t x = 0; x < w; ++x)
                out(y, x, k) = static_cast<std::uint8_t>(
                    std::clamp(chw[static_cast<core::index_t>((k * h + y) * w + x)] * 127.5f + 128.0f, 0.0f, 255.0f));
    return out;
}

// A mask [H, W] (or [1, H, W]) as 8-bit 0 / 255, set where the value is > threshold.
inline xt::xtensor<std::uint8_t, 2> mask_u8_from(core::const_view<float> mask, float threshold = 0.5f) {
    IMBDEF_REQUIRE(mask.rank() == 2 || (mask.rank() == 3 && mask.size(0) == 1), "data::mask_u8_from",
                   "a mask [H, W] or [1, H, W]", "shape " + mask.shape().to_string());
    const std::size_t h = static_cast<std::size_t>(mask.size(mask.rank() - 2)), w = static_cast<std::size_t>(mask.size(mask.rank() - 1));
    auto out = xt::xtensor<std::uint8_t, 2>::from_shape({h, w});
    for (std::size_t i = 0; i < h * w; ++i) out.data()[i] = mask[static_cast<core::index_t>(i)] > threshold ? 255 : 0;
    return out;
}

// The sample's kept components: from the maps when it has them, else from the mask.
inline component_set components_of(const export_sample& s, const component_options& o = {}) {
    return s.instance ? instance_components(*s.instance, *s.class_map, o) : connected_components(s.mask, s.class_id, o);
}

}  // namespace imbdef::data
