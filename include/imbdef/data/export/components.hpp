#pragma once
// Connected components of a defect mask, the objects every label format is made from.
//
// A component is a maximal 8-connected set of pixels (diagonal neighbours join, as in
// reference/dfmgan.md section 8). Components smaller than `min_area` pixels (default 16, the
// same section) are dropped: they are counted, but no label is written for them. From an
// instance map each instance id is taken separately, so two touching instances stay two objects
// and one instance split in pieces gives one object per piece.
//
// Components are numbered in raster order of their first pixel (top row first, then left), so
// the result depends only on the input. The label map holds, for every pixel, the 1-based number
// of the kept component it belongs to, or 0 (background or a dropped component); it is what the
// outline tracer and the RLE encoder read.

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <xtensor/xtensor.hpp>

#include "../../core/error.hpp"
#include "../../core/tensor.hpp"

namespace imbdef::data {

// Pixel rectangle [x0, x1) x [y0, y1): x1 - x0 is the width in pixels.
struct pixel_box {
    core::index_t x0 = 0, y0 = 0, x1 = 0, y1 = 0;
    core::index_t width() const { return x1 - x0; }
    core::index_t height() const { return y1 - y0; }
    bool operator==(const pixel_box&) const = default;
};

struct component {
    std::int32_t label = 0;     // its value in component_set::labels (1-based)
    std::int32_t class_id = 0;  // 0-based class index
    std::int32_t instance = 0;  // the instance id it came from; 0 for a binary mask
    core::index_t area = 0;     // pixel count
    pixel_box box;
};

struct component_set {
    core::index_t height = 0, width = 0;
    xt::xtensor<std::int32_t, 2> labels;  // (height, width): component label, 0 for none
    std::vector<component> components;    // kept components, components[i].label == i + 1
    core::index_t dropped = 0;            // components under min_area
    core::index_t dropped_area = 0;       // their pixels

    bool contains(std::size_t i, core::index_t y, core::index_t x) const {
        return y >= 0 && y < height && x >= 0 && x < width &&
               labels(static_cast<std::size_t>(y), static_cast<std::size_t>(x)) == components[i].label;
    }
};

struct component_options {
    core::index_t min_area = 16;  // components with fewer pixels are dropped; 1 keeps all
};

namespace export_detail {

inline void check_min_area(const component_options& o, const std::string& where) {
    IMBDEF_REQUIRE(o.min_area >= 1, where, "min_area >= 1", "min_area " + std::to_string(o.min_area));
}

// Labels the 8-connected components of the pixels where key(y, x) != 0, each pixel joining only
// neighbours with the same key. class_of(key, y, x) gives a component's class from its key.
template <class Key, class ClassOf>
component_set label_components(core::index_t h, core::index_t w, Key key, ClassOf class_of, bool keyed_instances,
                               const component_options& o) {
    component_set out;
    out.height = h;
    out.width = w;
    out.labels = xt::xtensor<std::int32_t, 2>::from_shape({static_cast<std::size_t>(h), static_cast<std::size_t>(w)});
    out.labels.fill(0);
    // -1 marks a pixel already visited that belongs to a dropped component.
    std::vector<std::int32_t> visited(static_cast<std::size_t>(h * w), 0);
    std::vector<core::index_t> stack, members;
    std::int32_t next = 1;
    for (core::index_t y0 = 0; y0 < h; ++y0)
        for (core::index_t x0 = 0; x0 < w; ++x0) {
            const std::int64_t k = key(y0, x0);
            if (k == 0 || visited[static_cast<std::size_t>(y0 * w + x0)] != 0) continue;
            members.clear();
            stack.assign(1, y0 * w + x0);
            visited[static_cast<std::size_t>(y0 * w + x0)] = 1;
            pixel_box box{x0, y0, x0 + 1, y0 + 1};
            while (!stack.empty()) {
                const core::index_t p = stack.back();
                stack.pop_back();
                members.push_back(p);
                const core::index_t y = p / w, x = p % w;
                box.x0 = std::min(box.x0, x), box.x1 = std::max(box.x1, x + 1);
                box.y0 = std::min(box.y0, y), box.y1 = std::max(box.y1, y + 1);
                for (core::index_t dy = -1; dy <= 1; ++dy)
                    for (core::index_t dx = -1; dx <= 1; ++dx) {
                        const core::index_t ny = y + dy, nx = x + dx;
                        if (ny < 0 || ny >= h || nx < 0 || nx >= w) continue;
                        const auto q = static_cast<std::size_t>(ny * w + nx);
                        if (visited[q] != 0 || key(ny, nx) != k) continue;
                        visited[q] = 1;
                        stack.push_back(ny * w + nx);
                    }
            }
            const auto area = static_cast<core::index_t>(members.size());
            if (area < o.min_area) {
                ++out.dropped;
                out.dropped_area += area;
                continue;
            }
            for (const core::index_t p : members) out.labels.data()[p] = next;
            out.components.push_back({next, class_of(k, y0, x0), keyed_instances ? static_cast<std::int32_t>(k) : 0,
                                      area, box});
            ++next;
        }
    return out;
}

}  // namespace export_detail

// mask (height, width): a pixel is set where it is non-zero (0/255 as read_mask gives, or {0, 1}).
// Every component gets class_id.
inline component_set connected_components(const xt::xtensor<std::uint8_t, 2>& mask, std::int32_t class_id = 0,
                                          const component_options& o = {}) {
    constexpr const char* where = "data::connected_components";
    export_detail::check_min_area(o, where);
    IMBDEF_REQUIRE(class_id >= 0, where, "a class id >= 0", "class id " + std::to_string(class_id));
    const auto h = static_cast<core::index_t>(mask.shape()[0]), w = static_cast<core::index_t>(mask.shape()[1]);
    return export_detail::label_components(
        h, w, [&](core::index_t y, core::index_t x) -> std::int64_t { return mask.data()[y * w + x] != 0 ? 1 : 0; },
        [&](std::int64_t, core::index_t, core::index_t) { return class_id; }, false, o);
}

// instance (height, width): 0 background, k > 0 instance k; class_map (same shape): the class
// + 1 of each instance pixel, 0 elsewhere, as models::compose_defect_maps writes them. Throws
// when the shapes differ, when an instance pixel has class 0 or a negative value appears, and
// when one instance carries two classes.
inline component_set instance_components(const xt::xtensor<std::int32_t, 2>& instance,
                                         const xt::xtensor<std::int32_t, 2>& class_map,
                                         const component_options& o = {}) {
    constexpr const char* where = "data::instance_components";
    export_detail::check_min_area(o, where);
    IMBDEF_REQUIRE(instance.shape() == class_map.shape(), where, "instance and class maps of the same shape",
                   std::to_string(instance.shape()[0]) + " x " + std::to_string(instance.shape()[1]) + " and " +
                       std::to_string(class_map.shape()[0]) + " x " + std::to_string(class_map.shape()[1]));
    const auto h = static_cast<core::index_t>(instance.shape()[0]), w = static_cast<core::index_t>(instance.shape()[1]);
    std::vector<std::int32_t> class_of_instance;
    for (core::index_t p = 0; p < h * w; ++p) {
        const std::int32_t id = instance.data()[p], c = class_map.data()[p];
        const std::string at = " at (y " + std::to_string(p / w) + ", x " + std::to_string(p % w) + ")";
        IMBDEF_REQUIRE(id >= 0 && c >= 0, where, "instance ids and classes >= 0",
                       "instance " + std::to_string(id) + ", class " + std::to_string(c) + at);
        if (id == 0) continue;
        IMBDEF_REQUIRE(c > 0, where, "a class (class map value >= 1) on every instance pixel",
                       "class map 0 under instance " + std::to_string(id) + at);
        if (class_of_instance.size() <= static_cast<std::size_t>(id)) class_of_instance.resize(static_cast<std::size_t>(id) + 1, 0);
        std::int32_t& seen = class_of_instance[static_cast<std::size_t>(id)];
        IMBDEF_REQUIRE(seen == 0 || seen == c, where, "one class per instance",
                       "instance " + std::to_string(id) + " with classes " + std::to_string(seen - 1) + " and " +
                           std::to_string(c - 1) + at);
        seen = c;
    }
    return export_detail::label_components(
        h, w, [&](core::index_t y, core::index_t x) -> std::int64_t { return instance.data()[y * w + x]; },
        [&](std::int64_t k, core::index_t, core::index_t) { return class_of_instance[static_cast<std::size_t>(k)] - 1; },
        true, o);
}

// Component i as a (height, width) mask holding 0 and 1.
inline xt::xtensor<std::uint8_t, 2> component_mask(const component_set& set, std::size_t i) {
    IMBDEF_REQUIRE(i < set.components.size(), "data::component_mask",
                   "a component index below " + std::to_string(set.components.size()), std::to_string(i));
    xt::xtensor<std::uint8_t, 2> m = xt::xtensor<std::uint8_t, 2>::from_shape(set.labels.shape());
    for (std::size_t p = 0; p < m.size(); ++p) m.data()[p] = set.labels.data()[p] == set.components[i].label ? 1 : 0;
    return m;
}

}  // namespace imbdef::data
