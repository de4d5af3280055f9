#pragma once
// A sample at another size, e.g. back at its source's size or at a detector's input size.
//
// Images (and the background) go through ops::resize, as preprocessing does: area averaging on
// an axis that shrinks, bicubic on one that grows, per axis; then rounded to 8 bits and clamped
// (bicubic overshoots at edges). Masks, the valid region and the instance and class maps take the
// nearest source pixel (the one whose centre is nearest the target pixel's centre), so they stay
// binary and the ids stay ids. Boxes are not scaled: the components are computed again from the
// resized mask, so every label describes the pixels actually written (and min_area applies at
// the new size).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>

#include "../../core/tensor.hpp"
#include "../../ops/resize.hpp"
#include "sample.hpp"

namespace imbdef::data {

namespace export_detail {

inline xt::xtensor<std::uint8_t, 3> resize_image(const xt::xtensor<std::uint8_t, 3>& im, core::index_t h2, core::index_t w2) {
    const auto h = static_cast<core::index_t>(im.shape()[0]), w = static_cast<core::index_t>(im.shape()[1]),
               c = static_cast<core::index_t>(im.shape()[2]);
    core::tensor<float> x(core::shape{1, c, h, w}, core::uninitialized), y(core::shape{1, c, h2, w2}, core::uninitialized);
    for (core::index_t k = 0; k < c; ++k)
        for (core::index_t p = 0; p < h * w; ++p) x.data()[k * h * w + p] = static_cast<float>(im.data()[p * c + k]);
    ops::resize<float, core::cpu>(x.cview(), y.view());
    auto out = xt::xtensor<std::uint8_t, 3>::from_shape(
        {static_cast<std::size_t>(h2), static_cast<std::size_t>(w2), static_cast<std::size_t>(c)});
    for (core::index_t k = 0; k < c; ++k)
        for (core::index_t p = 0; p < h2 * w2; ++p)
            out.data()[p * c + k] = static_cast<std::uint8_t>(std::clamp(std::lround(y.data()[k * h2 * w2 + p]), 0L, 255L));
    return out;
}

template <class T>
xt::xtensor<T, 2> resize_nearest(const xt::xtensor<T, 2>& m, core::index_t h2, core::index_t w2) {
    const auto h = static_cast<core::index_t>(m.shape()[0]), w = static_cast<core::index_t>(m.shape()[1]);
    auto out = xt::xtensor<T, 2>::from_shape({static_cast<std::size_t>(h2), static_cast<std::size_t>(w2)});
    // Source index floor((i + 1/2) * n / n2), in integers: exact, so the same on every machine.
    for (core::index_t y = 0; y < h2; ++y) {
        const core::index_t sy = std::min(h - 1, ((2 * y + 1) * h) / (2 * h2));
        for (core::index_t x = 0; x < w2; ++x) {
            const core::index_t sx = std::min(w - 1, ((2 * x + 1) * w) / (2 * w2));
            out.data()[y * w2 + x] = m.data()[sy * w + sx];
        }
    }
    return out;
}

}  // namespace export_detail

// The sample at height x width; the name, split, class and metadata are kept.
inline export_sample resize_sample(const export_sample& s, core::index_t height, core::index_t width) {
    validate(s);
    IMBDEF_REQUIRE(height >= 1 && width >= 1 && height <= 65536 && width <= 65536,
                   "data::resize_sample '" + s.name + "'", "a size from 1 x 1 to 65536 x 65536",
                   std::to_string(height) + " x " + std::to_string(width));
    export_sample out;
    out.name = s.name;
    out.split = s.split;
    out.class_id = s.class_id;
    out.metadata = s.metadata;
    out.image = export_detail::resize_image(s.image, height, width);
    out.mask = export_detail::resize_nearest(s.mask, height, width);
    if (s.instance) out.instance = export_detail::resize_nearest(*s.instance, height, width);
    if (s.class_map) out.class_map = export_detail::resize_nearest(*s.class_map, height, width);
    if (s.background) out.background = export_detail::resize_image(*s.background, height, width);
    if (s.valid_region) out.valid_region = export_detail::resize_nearest(*s.valid_region, height, width);
    return out;
}

}  // namespace imbdef::data
