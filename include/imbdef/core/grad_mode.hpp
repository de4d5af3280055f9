#pragma once
// The gradient contract. Every backward pass takes one mode for data gradients and one for
// parameter gradients:
//   assign     - the output buffer is overwritten; its previous contents are never read,
//   accumulate - the gradient is added to what the buffer holds,
//   none       - the buffer is neither read nor written (it may be empty).
// The generator step, for example, asks the discriminator for its input gradient only
// (data = assign, parameters = none). testing/gradient_check.hpp verifies all three on every op.

#include <string_view>

#include "macros.hpp"

namespace imbdef::core {

enum class grad_mode : unsigned char { assign, accumulate, none };

constexpr std::string_view to_string(grad_mode m) noexcept {
    switch (m) {
        case grad_mode::assign: return "assign";
        case grad_mode::accumulate: return "accumulate";
        case grad_mode::none: return "none";
    }
    return "?";
}

// Writes `g` into `slot` under mode `m` (the per-element form of the contract).
template <class T>
IMBDEF_HD IMBDEF_FORCEINLINE void store_grad(T& slot, T g, grad_mode m) noexcept {
    if (m == grad_mode::assign)
        slot = g;
    else if (m == grad_mode::accumulate)
        slot += g;
}

}  // namespace imbdef::core
