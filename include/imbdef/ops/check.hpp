#pragma once
// Argument checks shared by the ops' front ends. Messages name the op, the argument and both
// shapes, so a user can find the offending call without reading our code.

#include <string>
#include <string_view>

#include "../core/error.hpp"
#include "../core/shape.hpp"

namespace imbdef::ops {

// Throws unless argument `arg` (shape `found`) has the shape of argument `ref` (shape `expected`).
inline void require_shape_of(std::string_view op, std::string_view arg, const core::shape& found,
                             std::string_view ref, const core::shape& expected) {
    IMBDEF_REQUIRE(found == expected, std::string(op),
                   std::string(arg) + " of shape " + expected.to_string() + " (the shape of " + std::string(ref) + ")",
                   std::string(arg) + " of shape " + found.to_string());
}

}  // namespace imbdef::ops
