#pragma once
// softplus(x) = log(1 + e^x), the non-saturating logistic loss of StyleGAN (reference section 5),
// as functors for map_op (def/map.hpp).
//
//   y      = max(x, 0) + log1p(e^-|x|)       finite for every finite x: e^-|x| <= 1 never
//                                            overflows, and log1p keeps the small tail
//   dx     = dy sigma(x)                     sigma(x) = 1 / (1 + e^-x), written so that the
//                                            exponential's argument is never positive
//   y_dot  = sigma(x) x_dot
//   dx_dot = dy_dot sigma(x) + dy sigma(x) (1 - sigma(x)) x_dot
//
// e^-a and log1p are evaluated here with branch-free polynomials rather than the C library, so
// that a loop over elements vectorises (libm calls do not): within a few ulp of the exact
// values in float and double; NaN propagates.

#include <cstdint>
#include <cstring>

#include "../../core/macros.hpp"

namespace imbdef::ops {

namespace softplus_detail {

template <class T>
struct softplus_float_traits;

template <>
struct softplus_float_traits<float> {
    using bits = std::uint32_t;
    static constexpr int mantissa = 23;
    static constexpr int bias = 127;
    static constexpr float cutoff = 104.0f;  // e^-104 rounds to 0 in float
    static constexpr float round_magic = 12582912.0f;  // 1.5 2^23: x + magic - magic rounds |x| < 2^22
    static constexpr float ln2_hi = 0.693145751953125f;  // 16 significant bits: k ln2_hi is exact
    static constexpr float ln2_lo = 1.428606765330187045e-06f;
    static constexpr int exp_degree = 7;   // Taylor remainder 0.347^8 / 8! = 5e-9
    static constexpr int log_terms = 9;    // atanh series, (1/9)^9 / 19 = 1.3e-10
};

template <>
struct softplus_float_traits<double> {
    using bits = std::uint64_t;
    static constexpr int mantissa = 52;
    static constexpr int bias = 1023;
    static constexpr double cutoff = 746.0;  // e^-746 rounds to 0 in double
    static constexpr double round_magic = 6755399441055744.0;  // 1.5 2^52
    static constexpr double ln2_hi = 6.93147180369123816490e-01;  // 32 significant bits
    static constexpr double ln2_lo = 1.90821492927058770002e-10;
    static constexpr int exp_degree = 13;  // 0.347^14 / 14! = 4e-18
    static constexpr int log_terms = 17;   // (1/9)^17 / 35 = 5e-18
};

// 2^-m for 0 <= m < bias, from its bits.
template <class T>
IMBDEF_HD IMBDEF_FORCEINLINE T exp2_neg(int m) noexcept {
    using tr = softplus_float_traits<T>;
    const typename tr::bits b = static_cast<typename tr::bits>(tr::bias - m) << tr::mantissa;
    T r;
    std::memcpy(&r, &b, sizeof r);
    return r;
}

// e^-a for a >= 0 (0 for a = +inf). a = k ln2 + r with |r| <= ln2 / 2 (Cody-Waite), e^-r by its
// Taylor polynomial, 2^-k applied in two halves so that the first product stays normal.
template <class T>
IMBDEF_HD IMBDEF_FORCEINLINE T exp_neg(T a) noexcept {
    using tr = softplus_float_traits<T>;
    const T ac = a < tr::cutoff ? a : tr::cutoff;
    const T kf = (ac * T(1.4426950408889634) + tr::round_magic) - tr::round_magic;
    const T r = (ac - kf * tr::ln2_hi) - kf * tr::ln2_lo;
    T p = T(1);
    for (int i = tr::exp_degree; i >= 1; --i) p = T(1) - r * p / T(i);  // Horner form of sum (-r)^i / i!
    const int k = static_cast<int>(kf);
    const int k1 = k >> 1;
    const T e = p * exp2_neg<T>(k1) * exp2_neg<T>(k - k1);
    return a < tr::cutoff ? e : T(0);
}

// log(1 + e) for e in [0, 1]: 2 atanh(s) with s = e / (2 + e) in [0, 1/3], by its series.
template <class T>
IMBDEF_HD IMBDEF_FORCEINLINE T log1p_unit(T e) noexcept {
    using tr = softplus_float_traits<T>;
    const T s = e / (T(2) + e);
    const T z = s * s;
    T p = T(1) / T(2 * tr::log_terms - 1);
    for (int n = tr::log_terms - 2; n >= 0; --n) p = p * z + T(1) / T(2 * n + 1);
    return T(2) * s * p;
}

}  // namespace softplus_detail

namespace map_fn {

struct sigmoid {
    template <class T>
    IMBDEF_HD T operator()(T x) const noexcept {
        const T e = softplus_detail::exp_neg(x < T(0) ? -x : x);  // in [0, 1]
        const T r = T(1) / (T(1) + e);
        const T s = x >= T(0) ? r : e * r;
        return x == x ? s : x;
    }
};

struct softplus {
    template <class T>
    IMBDEF_HD T operator()(T x) const noexcept {
        const T y = (x > T(0) ? x : T(0)) + softplus_detail::log1p_unit(softplus_detail::exp_neg(x < T(0) ? -x : x));
        return x == x ? y : x;
    }
};

// (x, t) -> sigma(x) t: the gradient (t = dy) and the forward tangent (t = x_dot).
struct softplus_backward {
    template <class T>
    IMBDEF_HD T operator()(T x, T t) const noexcept { return sigmoid{}(x) * t; }
};

// (x, x_dot, dy, dy_dot) -> dx_dot.
struct softplus_backward_tangent {
    template <class T>
    IMBDEF_HD T operator()(T x, T x_dot, T dy, T dy_dot) const noexcept {
        const T s = sigmoid{}(x);
        return s * (dy_dot + dy * (T(1) - s) * x_dot);
    }
};

}  // namespace map_fn

}  // namespace imbdef::ops
