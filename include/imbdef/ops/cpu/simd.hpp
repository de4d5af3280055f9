#pragma once
// Fixed-width vectors for the CPU kernels of the resample family, written with the GCC/Clang
// vector extension so that one source compiles to AVX-512, AVX2 or SSE2 as the target allows
// (a 64-byte vector is one AVX-512 register, two AVX2 or four SSE registers). Auto-vectorisation
// picked gathers for the FIR loops; these spell the loops out.
//
// Vectors are passed by reference: by value they would change the ABI between targets.

#include <cstddef>
#include <cstring>
#include <type_traits>
#include <utility>

#include "../../core/macros.hpp"
#include "../../core/shape.hpp"

namespace imbdef::ops::detail::simd {

using core::index_t;

template <class T>
struct vector_of {
    typedef T type __attribute__((vector_size(64)));
};
template <class T>
using vec = typename vector_of<T>::type;

// A vector of Bytes bytes of element E.
template <class E, std::size_t Bytes>
struct vector_bytes {
    typedef E type __attribute__((vector_size(Bytes)));
};
template <class E, std::size_t Bytes>
using vec_n = typename vector_bytes<E, Bytes>::type;

// The lane-wise comparison result: signed integers of T's width, -1 for true.
template <class T>
using mask_vec = decltype(vec<T>{} < vec<T>{});

// Unsigned integers of T's width, for shifts that reach the top bit.
template <class T>
struct unsigned_mask_of {
    using element = std::make_unsigned_t<std::remove_cvref_t<decltype(mask_vec<T>{}[0])>>;
    typedef element type __attribute__((vector_size(64)));
};
template <class T>
using umask_vec = typename unsigned_mask_of<T>::type;

template <class T>
inline constexpr index_t lanes = 64 / static_cast<index_t>(sizeof(T));

template <class T>
IMBDEF_FORCEINLINE void load(vec<T>& v, const T* p) noexcept {
    std::memcpy(&v, p, sizeof v);
}
template <class T>
IMBDEF_FORCEINLINE void store(T* p, const vec<T>& v) noexcept {
    std::memcpy(p, &v, sizeof v);
}

namespace detail {
template <class V, std::size_t... I>
IMBDEF_FORCEINLINE void zip(const V& a, const V& b, V& lo, V& hi, std::index_sequence<I...>) noexcept {
    constexpr std::size_t n = sizeof...(I);
    lo = __builtin_shufflevector(a, b, ((I % 2) ? n + I / 2 : I / 2)...);
    hi = __builtin_shufflevector(a, b, ((I % 2) ? n + n / 2 + I / 2 : n / 2 + I / 2)...);
}
}  // namespace detail

// Interleaves a and b: lo = a0 b0 a1 b1 ..., hi = the second half of that sequence.
template <class T>
IMBDEF_FORCEINLINE void zip(const vec<T>& a, const vec<T>& b, vec<T>& lo, vec<T>& hi) noexcept {
    detail::zip(a, b, lo, hi, std::make_index_sequence<static_cast<std::size_t>(lanes<T>)>{});
}

}  // namespace imbdef::ops::detail::simd
