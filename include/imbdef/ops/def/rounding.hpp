#pragma once
// Products and sums rounded on their own, never fused into a multiply-add.
//
// nvcc contracts a multiply followed by an add into one FMA (a single rounding); the host build
// on the default x86-64 target cannot (no FMA instructions without -march). So `slot += a * b`
// differs in the last bit between the two sides unless the product is rounded first. Writing the
// final product of a value that may be accumulated with mul_rn keeps elementwise ops and fills
// bit-identical on CPU and GPU. On the host these are the plain operators, so CPU loops still
// vectorise; there they match the device as long as the host compiler does not contract
// (-ffp-contract=off, or a target without FMA).

#include <type_traits>

#include "../../core/macros.hpp"

namespace imbdef::ops {

template <class T>
IMBDEF_HD IMBDEF_FORCEINLINE T mul_rn(T a, T b) noexcept {
#if defined(__CUDA_ARCH__)
    if constexpr (std::is_same_v<T, float>)
        return __fmul_rn(a, b);
    else if constexpr (std::is_same_v<T, double>)
        return __dmul_rn(a, b);
    else
        return a * b;
#else
    return a * b;
#endif
}

template <class T>
IMBDEF_HD IMBDEF_FORCEINLINE T add_rn(T a, T b) noexcept {
#if defined(__CUDA_ARCH__)
    if constexpr (std::is_same_v<T, float>)
        return __fadd_rn(a, b);
    else if constexpr (std::is_same_v<T, double>)
        return __dadd_rn(a, b);
    else
        return a + b;
#else
    return a + b;
#endif
}

}  // namespace imbdef::ops
