#pragma once
// Argument checks shared by the image filters' front ends (sobel, binomial_lowpass, blur, resize).

#include <string>

#include "../core/error.hpp"
#include "../core/shape.hpp"

namespace imbdef::ops::detail {

inline void check_nchw(const std::string& op, const char* arg, const core::shape& s) {
    IMBDEF_REQUIRE(s.rank() == 4, op, std::string(arg) + " of rank 4 [N, C, H, W]",
                   std::string(arg) + " of shape " + s.to_string());
}

}  // namespace imbdef::ops::detail
