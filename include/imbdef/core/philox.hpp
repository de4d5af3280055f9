#pragma once
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11) and the
// draws built on it, as host/device functions: the CPU and the GPU compute the same bits.
//
// A stream is (seed, stream id). Its n-th 32-bit word is lane n % 4 of the Philox block with
// counter {n / 4 (64 bits), stream id (64 bits)} and key {seed (64 bits)}. "Offset" everywhere in
// imbdef means this n, so a draw is reproducible from (seed, stream, offset) alone and any slice of
// it can be produced independently by any thread.
//
// Uniform and normal draws use only the correctly rounded operations of fp.hpp, in an order fixed
// here, with our own log and sin/cos, so that host and device agree bit for bit whatever the
// compiler's contraction or math-library choices.

#include <cstdint>
#include <cstring>

#include "fp.hpp"
#include "macros.hpp"

namespace imbdef::core {

struct philox_block {
    std::uint32_t v[4];
};

namespace detail {
inline constexpr std::uint32_t philox_m0 = 0xD2511F53u;
inline constexpr std::uint32_t philox_m1 = 0xCD9E8D57u;
inline constexpr std::uint32_t philox_w0 = 0x9E3779B9u;  // golden ratio
inline constexpr std::uint32_t philox_w1 = 0xBB67AE85u;  // sqrt(3) - 1
}  // namespace detail

// One Philox4x32-10 bijection of `counter` under `key`.
IMBDEF_HD constexpr philox_block philox4x32_10(philox_block counter, std::uint32_t k0, std::uint32_t k1) noexcept {
    philox_block c = counter;
    for (int round = 0; round < 10; ++round) {
        if (round) {
            k0 += detail::philox_w0;
            k1 += detail::philox_w1;
        }
        const std::uint64_t p0 = static_cast<std::uint64_t>(detail::philox_m0) * c.v[0];
        const std::uint64_t p1 = static_cast<std::uint64_t>(detail::philox_m1) * c.v[2];
        const philox_block next{{static_cast<std::uint32_t>(p1 >> 32) ^ c.v[1] ^ k0, static_cast<std::uint32_t>(p1),
                                 static_cast<std::uint32_t>(p0 >> 32) ^ c.v[3] ^ k1, static_cast<std::uint32_t>(p0)}};
        c = next;
    }
    return c;
}

namespace fp {
// Natural log for x in (0, 1], within 2 ulp: x = m * 2^e with m in [sqrt(1/2), sqrt(2)),
// log m = 2 atanh(s), s = (m - 1) / (m + 1), summed as an odd series in s (|s| < 0.172).
IMBDEF_HD inline float log_unit(float x) noexcept {
    const std::uint32_t u = to_bits(x);
    int e = static_cast<int>((u >> 23) & 0xffu) - 127;
    float m = from_bits((u & 0x007fffffu) | 0x3f800000u);  // [1, 2)
    if (m > 1.41421356f) {
        m = mul(m, 0.5f);
        ++e;
    }
    const float f = add(m, -1.0f);
    const float s = div(f, add(f, 2.0f));
    const float z = mul(s, s);
    float p = 2.0f / 11.0f;
    p = fma(p, z, 2.0f / 9.0f);
    p = fma(p, z, 2.0f / 7.0f);
    p = fma(p, z, 2.0f / 5.0f);
    p = fma(p, z, 2.0f / 3.0f);
    const float log_m = fma(mul(p, z), s, mul(2.0f, s));
    const float fe = static_cast<float>(e);
    constexpr float ln2_hi = 0.693359375f;  // 355/512: ln 2 split so that e * ln2_hi is exact
    constexpr float ln2_lo = -2.12194440e-4f;
    return add(fma(fe, ln2_hi, 0.0f), fma(fe, ln2_lo, log_m));
}

// sin and cos of 2*pi*t for t in [0, 1), within 2 ulp of the absolute scale: reduce to the
// nearest quarter turn, evaluate Taylor polynomials on [-pi/4, pi/4], rotate by the quadrant.
IMBDEF_HD inline void sincos_turns(float t, float& s_out, float& c_out) noexcept {
    const int q = static_cast<int>(add(mul(t, 4.0f), 0.5f));  // nearest quarter, 0..4
    const float r = add(t, mul(static_cast<float>(q), -0.25f));  // exact, in [-1/8, 1/8]
    const float x = mul(r, 6.28318548f);
    const float x2 = mul(x, x);
    float ps = -1.0f / 39916800.0f;
    ps = fma(ps, x2, 1.0f / 362880.0f);
    ps = fma(ps, x2, -1.0f / 5040.0f);
    ps = fma(ps, x2, 1.0f / 120.0f);
    ps = fma(ps, x2, -1.0f / 6.0f);
    const float sn = fma(mul(ps, x2), x, x);
    float pc = -1.0f / 3628800.0f;
    pc = fma(pc, x2, 1.0f / 40320.0f);
    pc = fma(pc, x2, -1.0f / 720.0f);
    pc = fma(pc, x2, 1.0f / 24.0f);
    pc = fma(pc, x2, -0.5f);
    const float cs = fma(pc, x2, 1.0f);
    switch (q & 3) {
        case 0: s_out = sn; c_out = cs; break;
        case 1: s_out = cs; c_out = -sn; break;
        case 2: s_out = -sn; c_out = -cs; break;
        default: s_out = -cs; c_out = sn; break;
    }
}
}  // namespace fp

// A uniform float in the open interval (0, 1) from 32 random bits: (k + 1/2) / 2^23 with k the
// top 23 bits, exact in float, never 0 or 1.
IMBDEF_HD IMBDEF_FORCEINLINE float uniform_from_bits(std::uint32_t u) noexcept {
    return static_cast<float>(u >> 9) * 1.1920928955078125e-07f + 5.9604644775390625e-08f;
}

// Two standard normals from two words by the Box-Muller transform. The tails are cut at
// sqrt(-2 ln 2^-24) = 5.77 standard deviations, a probability of under 1e-8.
IMBDEF_HD inline void box_muller(std::uint32_t a, std::uint32_t b, float& z0, float& z1) noexcept {
    const float radius = fp::sqrt(fp::mul(-2.0f, fp::log_unit(uniform_from_bits(a))));
    const float turns = static_cast<float>(b >> 8) * 5.9604644775390625e-08f;  // [0, 1)
    float s, c;
    fp::sincos_turns(turns, s, c);
    z0 = fp::mul(radius, c);
    z1 = fp::mul(radius, s);
}

// A counter-based stream: cheap to copy, stateless, usable in any thread or kernel.
struct philox_stream {
    std::uint64_t seed = 0;
    std::uint64_t stream = 0;

    // The four words at offsets 4*b .. 4*b + 3.
    IMBDEF_HD constexpr philox_block block(std::uint64_t b) const noexcept {
        return philox4x32_10({{static_cast<std::uint32_t>(b), static_cast<std::uint32_t>(b >> 32),
                               static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)}},
                             static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
    }
    IMBDEF_HD constexpr std::uint32_t bits(std::uint64_t offset) const noexcept {
        return block(offset >> 2).v[offset & 3];
    }
    IMBDEF_HD float uniform(std::uint64_t offset) const noexcept { return uniform_from_bits(bits(offset)); }

    // The four normals at offsets 4*b .. 4*b + 3: lanes (0, 1) and (2, 3) each feed one Box-Muller pair.
    IMBDEF_HD void normal_block(std::uint64_t b, float out[4]) const noexcept {
        const philox_block r = block(b);
        box_muller(r.v[0], r.v[1], out[0], out[1]);
        box_muller(r.v[2], r.v[3], out[2], out[3]);
    }
    IMBDEF_HD float normal(std::uint64_t offset) const noexcept {
        float z[4];
        normal_block(offset >> 2, z);
        return z[offset & 3];
    }
};

}  // namespace imbdef::core
