#pragma once
// YOLO (Ultralytics) label files: one text line per kept component, coordinates normalised by
// the image size to [0, 1], written with 6 decimals in fixed notation (locale-independent).
//
//   detection:     class cx cy w h          the component's box: centre and size
//   segmentation:  class x1 y1 x2 y2 ...    its outer boundary (outline.hpp): pixel-corner
//                                           vertices, clockwise on screen; holes are not
//                                           represented (the format has no way to say them)
//
// The class is the 0-based class index. A set with no kept component gives an empty file: for
// Ultralytics an image with an empty label file is a negative (background) example.

#include <charconv>
#include <string>

#include "components.hpp"
#include "outline.hpp"

namespace imbdef::data {

namespace export_detail {

inline void append_fixed(std::string& s, double v) {
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 6);
    s.append(buf, r.ptr);
}

}  // namespace export_detail

inline std::string yolo_detection_labels(const component_set& set) {
    std::string s;
    const auto w = static_cast<double>(set.width), h = static_cast<double>(set.height);
    for (const component& c : set.components) {
        s += std::to_string(c.class_id);
        for (const double v : {(static_cast<double>(c.box.x0) + static_cast<double>(c.box.x1)) / (2 * w),
                               (static_cast<double>(c.box.y0) + static_cast<double>(c.box.y1)) / (2 * h),
                               static_cast<double>(c.box.width()) / w, static_cast<double>(c.box.height()) / h}) {
            s += ' ';
            export_detail::append_fixed(s, v);
        }
        s += '\n';
    }
    return s;
}

inline std::string yolo_segmentation_labels(const component_set& set) {
    std::string s;
    const auto w = static_cast<double>(set.width), h = static_cast<double>(set.height);
    for (std::size_t i = 0; i < set.components.size(); ++i) {
        s += std::to_string(set.components[i].class_id);
        for (const grid_point& p : trace_outline(set, i)) {
            s += ' ';
            export_detail::append_fixed(s, static_cast<double>(p.x) / w);
            s += ' ';
            export_detail::append_fixed(s, static_cast<double>(p.y) / h);
        }
        s += '\n';
    }
    return s;
}

}  // namespace imbdef::data
