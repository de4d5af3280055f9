#pragma once
// Correctly rounded float and double arithmetic that no compiler may fuse or reorder.
//
// nvcc contracts a multiply followed by an add into one FMA by default, and g++ does the same on a
// target with FMA (-march=native). Code that must give the same bits on the host and the device
// (random draws) spells each operation with these helpers: on the device they are the _rn
// intrinsics, which are never contracted; on the host each result passes through an empty asm
// statement that hides it from the optimiser. They cost a register move, so they are for exactness,
// not for hot loops.

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "macros.hpp"

#if !defined(__CUDA_ARCH__)
#include <cmath>
#endif

namespace imbdef::core::fp {

template <class T>
concept real = std::is_same_v<T, float> || std::is_same_v<T, double>;

template <real T>
IMBDEF_HD IMBDEF_FORCEINLINE T opaque(T x) noexcept {
#if defined(__CUDA_ARCH__)
    return x;
#elif defined(__x86_64__) || defined(__i386__)
    __asm__("" : "+x"(x));
    return x;
#elif defined(__aarch64__)
    __asm__("" : "+w"(x));
    return x;
#else
    volatile T v = x;
    return v;
#endif
}

template <real T>
IMBDEF_HD IMBDEF_FORCEINLINE T mul(T a, T b) noexcept {
#if defined(__CUDA_ARCH__)
    if constexpr (std::is_same_v<T, float>) return __fmul_rn(a, b);
    else return __dmul_rn(a, b);
#else
    return opaque(a * b);
#endif
}

template <real T>
IMBDEF_HD IMBDEF_FORCEINLINE T add(T a, T b) noexcept {
#if defined(__CUDA_ARCH__)
    if constexpr (std::is_same_v<T, float>) return __fadd_rn(a, b);
    else return __dadd_rn(a, b);
#else
    return opaque(a + b);
#endif
}

template <real T>
IMBDEF_HD IMBDEF_FORCEINLINE T fma(T a, T b, T c) noexcept {
#if defined(__CUDA_ARCH__)
    if constexpr (std::is_same_v<T, float>) return __fmaf_rn(a, b, c);
    else return __fma_rn(a, b, c);
#else
    return opaque(std::fma(a, b, c));
#endif
}

template <real T>
IMBDEF_HD IMBDEF_FORCEINLINE T div(T a, T b) noexcept {
#if defined(__CUDA_ARCH__)
    if constexpr (std::is_same_v<T, float>) return __fdiv_rn(a, b);
    else return __ddiv_rn(a, b);
#else
    return opaque(a / b);
#endif
}

template <real T>
IMBDEF_HD IMBDEF_FORCEINLINE T sqrt(T a) noexcept {
#if defined(__CUDA_ARCH__)
    if constexpr (std::is_same_v<T, float>) return __fsqrt_rn(a);
    else return __dsqrt_rn(a);
#else
    return opaque(std::sqrt(a));
#endif
}

IMBDEF_HD IMBDEF_FORCEINLINE std::uint32_t to_bits(float x) noexcept {
    std::uint32_t u;
    std::memcpy(&u, &x, sizeof u);
    return u;
}
IMBDEF_HD IMBDEF_FORCEINLINE float from_bits(std::uint32_t u) noexcept {
    float x;
    std::memcpy(&x, &u, sizeof x);
    return x;
}

}  // namespace imbdef::core::fp
