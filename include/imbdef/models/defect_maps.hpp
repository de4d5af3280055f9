#pragma once
// The per-pixel maps of an image with several defects (METHOD.md, "Several defects per image"):
// from the binary masks of K passes, an instance map and a class map.
//
//   instance(n, y, x) = k + 1 for the LAST pass k whose mask m^k(n, y, x) is 1, else 0
//   class(n, y, x)    = c_k + 1 for that pass, else 0  (0 is the background, as in segmentation)
//
// The overlap rule is "the later pass wins": pass k + 1 paints on features that already carry
// pass k's defect (models/defect_generator.hpp), so where both masks cover a pixel, what is seen
// there was painted last. A pass whose mask is empty leaves no trace in either map.

#include <cstdint>
#include <span>
#include <string>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace imbdef::models {

// masks [N, K, H, W] in {0, 1}; classes: N K labels, sample-major; instance and class_map
// [N, H, W]. Throws on mismatched shapes.
template <class T>
void compose_defect_maps(core::const_view<T> masks, std::span<const int> classes, core::view<std::int32_t> instance,
                         core::view<std::int32_t> class_map) {
    constexpr const char* where = "models::compose_defect_maps";
    IMBDEF_REQUIRE(masks.rank() == 4, where, "masks of shape [N, K, H, W]", "shape " + masks.shape().to_string());
    const core::index_t n = masks.size(0), k = masks.size(1), h = masks.size(2), w = masks.size(3);
    IMBDEF_REQUIRE(classes.size() == static_cast<std::size_t>(n * k), where,
                   std::to_string(n * k) + " class labels (one per sample and pass)", std::to_string(classes.size()));
    const core::shape maps{n, h, w};
    IMBDEF_REQUIRE(instance.shape() == maps && class_map.shape() == maps, where,
                   "instance and class maps of shape " + maps.to_string(),
                   instance.shape().to_string() + " and " + class_map.shape().to_string());
    const core::index_t plane = h * w;
    for (core::index_t s = 0; s < n; ++s) {
        std::int32_t* inst = instance.data() + s * plane;
        std::int32_t* cls = class_map.data() + s * plane;
        for (core::index_t q = 0; q < plane; ++q) inst[q] = cls[q] = 0;
        for (core::index_t p = 0; p < k; ++p) {
            const T* m = masks.data() + (s * k + p) * plane;
            const auto label = static_cast<std::int32_t>(classes[static_cast<std::size_t>(s * k + p)] + 1);
            for (core::index_t q = 0; q < plane; ++q)
                if (m[q] > T(0.5)) {
                    inst[q] = static_cast<std::int32_t>(p + 1);
                    cls[q] = label;
                }
        }
    }
}

}  // namespace imbdef::models
