#pragma once
// The outer boundary of a component as a polygon, for YOLO segmentation labels and COCO
// polygons.
//
// Vertices lie on pixel corners: pixel (x, y) is the unit square [x, x + 1) x [y, y + 1), so a
// block of pixels from column x0 to x1 - 1 and row y0 to y1 - 1 gives exactly the four corners
// (x0, y0), (x1, y0), (x1, y1), (x0, y1), and the polygon of a component without holes or
// diagonal joints encloses exactly its pixels. The tracer walks the pixel edges with the
// component on its right (clockwise on screen, y pointing down), starting at the top-left corner
// of the component's first pixel in raster order, and keeps only the corners where the direction
// changes, so collinear points never appear.
//
// Where two pixels of the component touch only at a corner, the walk passes through that corner
// twice and the polygon pinches there instead of splitting: one component, one polygon. Holes are
// not represented (YOLO polygons have no way to say them; COCO's RLE does, see rle.hpp): a
// polygon covers the component and its holes.

#include <array>
#include <cstddef>
#include <vector>

#include "components.hpp"

namespace imbdef::data {

struct grid_point {
    core::index_t x = 0, y = 0;
    bool operator==(const grid_point&) const = default;
};

inline std::vector<grid_point> trace_outline(const component_set& set, std::size_t i) {
    IMBDEF_REQUIRE(i < set.components.size(), "data::trace_outline",
                   "a component index below " + std::to_string(set.components.size()), std::to_string(i));
    // Directions east, south, west, north (y down); turning right is +1.
    static constexpr std::array<core::index_t, 4> dx{1, 0, -1, 0}, dy{0, 1, 0, -1};
    const component& c = set.components[i];
    // The first pixel in raster order: the top row's leftmost pixel of the component.
    grid_point start{c.box.x0, c.box.y0};
    while (!set.contains(i, start.y, start.x)) ++start.x;
    // Heading d from corner (x, y), the pixel ahead on the left and the one ahead on the right
    // (of the four pixels around the corner).
    static constexpr std::array<core::index_t, 4> lx{0, 0, -1, -1}, ly{-1, 0, 0, -1};
    static constexpr std::array<core::index_t, 4> rx{0, -1, -1, 0}, ry{0, 0, -1, -1};
    const auto ahead_left = [&](grid_point v, std::size_t d) { return set.contains(i, v.y + ly[d], v.x + lx[d]); };
    const auto ahead_right = [&](grid_point v, std::size_t d) { return set.contains(i, v.y + ry[d], v.x + rx[d]); };
    std::vector<grid_point> out{start};
    grid_point v = start;
    std::size_t d = 0;  // east along the top edge of the first pixel: the pixel is on the right
    for (;;) {
        v = {v.x + dx[d], v.y + dy[d]};
        if (v == start) break;  // the start corner touches one pixel of the component only
        // Left first joins diagonal neighbours (8-connectivity); then straight; else right.
        const std::size_t next = ahead_left(v, d) ? (d + 3) % 4 : ahead_right(v, d) ? d : (d + 1) % 4;
        if (next != d) out.push_back(v);
        d = next;
    }
    return out;
}

}  // namespace imbdef::data
