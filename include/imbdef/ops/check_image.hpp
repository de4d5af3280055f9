#pragma once
// Argument checks shared by the image filters' front ends (sobel, binomial_lowpass, blur, resize).

#include <string>
#include <string_view>

#include "../core/error.hpp"
#include "../core/shape.hpp"

namespace imbdef::ops::detail {

// The op name is a string_view so that a passing check allocates nothing.
inline void check_nchw(std::string_view op, const char* arg, const core::shape& s) {
    IMBDEF_REQUIRE(s.rank() == 4, std::string(op), std::string(arg) + " of rank 4 [N, C, H, W]",
                   std::string(arg) + " of shape " + s.to_string());
}

}  // namespace imbdef::ops::detail
